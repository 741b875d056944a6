import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { IPublishOptions, MlopsClient } from './api';
import { cellsPlugin } from './cells/plugin';
import { RUNS_DRIVE, RunsDrive } from './drive';
import { mlopsIcon } from './icons';
import { MlopsModel } from './model';
import { INotebookCells } from './models/proposal';
import { IMlopsModel } from './tokens';
import { MlopsPanel, PANEL_ID } from './widgets/panel';
import { toFormData, validateParameters } from './widgets/parameters';

export * from './api';
export * from './tokens';
export { MlopsModel } from './model';
export { PipelineModel } from './models/pipeline';
export { RunsModel } from './models/runs';
export { RegistryModel } from './models/registry';
export { ProposalModel } from './models/proposal';
export { VerifyModel } from './models/verify';

namespace CommandIDs {
  export const openPanel = 'jupyter-mlops:open-panel';
  export const refresh = 'jupyter-mlops:refresh';
  export const run = 'jupyter-mlops:run';
  export const verify = 'jupyter-mlops:verify';
}

/**
 * Provides the MLOps model (server info, pipeline, runs, registry).
 */
const modelPlugin: JupyterFrontEndPlugin<IMlopsModel> = {
  id: 'jupyter-mlops:model',
  description: 'The jupyter-mlops model: server info, pipeline, runs, models.',
  autoStart: true,
  provides: IMlopsModel,
  activate: (app: JupyterFrontEnd): IMlopsModel => {
    const model = new MlopsModel({
      serverSettings: app.serviceManager.serverSettings,
      events: app.serviceManager.events
    });
    void model.refreshInfo();
    return model;
  }
};

/**
 * The left-sidebar MLOps panel, following the notebook in focus.
 */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: PANEL_ID,
  description: 'The MLOps panel in the left sidebar.',
  autoStart: true,
  requires: [IMlopsModel],
  optional: [
    INotebookTracker,
    ILayoutRestorer,
    ICommandPalette,
    ITranslator,
    ISettingRegistry,
    IRenderMimeRegistry,
    IDocumentManager
  ],
  activate: (
    app: JupyterFrontEnd,
    model: IMlopsModel,
    tracker: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null,
    rendermime: IRenderMimeRegistry | null,
    docManager: IDocumentManager | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_mlops');
    const settings = {
      saveBeforeRun: true,
      useCache: true,
      historyMetrics: [] as string[]
    };
    if (settingRegistry) {
      void settingRegistry.load(PANEL_ID).then(loaded => {
        const update = () => {
          settings.saveBeforeRun =
            loaded.get('saveBeforeRun').composite !== false;
          settings.useCache = loaded.get('useCache').composite !== false;
          settings.historyMetrics =
            (loaded.get('historyMetrics').composite as string[]) ?? [];
          void model.runs.refreshHistory();
        };
        loaded.changed.connect(update);
        update();
      });
    }

    // Executed step notebooks open read-only through a drive on the runs API.
    const drive = new RunsDrive(
      new MlopsClient(app.serviceManager.serverSettings)
    );
    app.serviceManager.contents.addDrive(drive);

    let followed: NotebookPanel | null = null;

    const selectCell = (index: number) => {
      const notebook = followed;
      if (!notebook) {
        return;
      }
      const content = notebook.content;
      if (index < 0 || index >= content.widgets.length) {
        return;
      }
      content.activeCellIndex = index;
      content.deselectAll();
      void content.scrollToItem(index, 'smart');
      app.shell.activateById(notebook.id);
    };

    const openStepNotebook = async (runId: string, step: string) => {
      const path = RunsDrive.path(runId, step);
      if (!docManager) {
        window.open(await drive.getDownloadUrl(`${runId}/${step}.ipynb`));
        return;
      }
      const widget = docManager.openOrReveal(path, 'Notebook');
      if (!(widget instanceof NotebookPanel)) {
        return;
      }
      await widget.context.ready;
      widget.content.mode = 'command';
      // Point at the cell that raised.
      const cells = widget.content.model?.cells;
      if (!cells) {
        return;
      }
      for (let i = 0; i < cells.length; i++) {
        const outputs = (cells.get(i).toJSON() as any).outputs ?? [];
        if (outputs.some((o: any) => o.output_type === 'error')) {
          widget.content.activeCellIndex = i;
          void widget.content.scrollToItem(i, 'center');
          break;
        }
      }
    };

    /**
     * What a run and a verification both need first: the followed notebook's path, valid
     * parameters and, when the settings ask for it, the notebook saved (the server reads the
     * saved file). Problems go to `report`; null: do not go on.
     */
    const prepare = async (
      report: (message: string) => void
    ): Promise<string | null> => {
      const notebook = followed;
      const path = model.pipeline.path;
      if (!path) {
        return null;
      }
      const schema = model.pipeline.result?.parameters_schema;
      if (schema) {
        const errors = validateParameters(
          schema,
          toFormData(schema, model.pipeline.values),
          trans
        );
        if (Object.keys(errors).length) {
          report(Object.values(errors).join('; '));
          return null;
        }
      }
      if (
        notebook &&
        settings.saveBeforeRun &&
        notebook.context.path === path &&
        notebook.context.model.dirty
      ) {
        try {
          await notebook.context.save();
        } catch (error) {
          report(
            trans.__(
              'Cannot save the notebook: %1',
              error instanceof Error ? error.message : String(error)
            )
          );
          return null;
        }
      }
      return path;
    };

    const run = async () => {
      const path = await prepare(message => model.runs.reportError(message));
      if (path) {
        await model.runs.start(
          path,
          model.pipeline.changedValues,
          settings.useCache
        );
      }
    };

    const verify = async () => {
      const path = await prepare(message => model.verify.reportError(message));
      if (path) {
        await model.verify.verify(model.pipeline.changedValues);
      }
    };

    /** The followed notebook's cell tags, written through its model (undoable). */
    const cellsOf = (notebook: NotebookPanel): INotebookCells => ({
      read: () => {
        const cells = notebook.content.model?.cells;
        const out = [];
        for (let i = 0; cells && i < cells.length; i++) {
          const cell = cells.get(i);
          const tags = cell.getMetadata('tags');
          out.push({
            id: cell.id,
            tags: Array.isArray(tags) ? [...(tags as string[])] : null
          });
        }
        return out;
      },
      write: changes => {
        const notebookModel = notebook.content.model;
        if (!notebookModel || !changes.length) {
          return;
        }
        const byId = new Map(changes.map(c => [c.id, c.tags]));
        notebookModel.sharedModel.transact(() => {
          const cells = notebookModel.cells;
          for (let i = 0; i < cells.length; i++) {
            const cell = cells.get(i);
            if (!byId.has(cell.id)) {
              continue;
            }
            const tags = byId.get(cell.id);
            if (tags) {
              cell.setMetadata('tags', tags);
            } else {
              cell.deleteMetadata('tags');
            }
          }
        });
        if (model.pipeline.path === notebook.context.path) {
          model.pipeline.schedule(0);
        }
      }
    });

    const savePublishDefaults = (options: IPublishOptions) => {
      const notebook = followed;
      if (!notebook?.model) {
        return;
      }
      const current = (notebook.model.getMetadata('mlops') as any) ?? {};
      notebook.model.setMetadata('mlops', { ...current, publish: options });
    };

    const panel = new MlopsPanel({
      model,
      trans,
      translator: translator ?? undefined,
      rendermime,
      actions: {
        selectCell,
        openStepNotebook: (runId, step) => void openStepNotebook(runId, step),
        run,
        verify,
        savePublishDefaults
      },
      historyMetrics: () => settings.historyMetrics,
      showRun: runId => {
        void model.runs.show(runId);
      }
    });
    app.shell.add(panel, 'left', { rank: 900 });
    if (restorer) {
      restorer.add(panel, PANEL_ID);
    }

    app.commands.addCommand(CommandIDs.openPanel, {
      label: trans.__('Open the MLOps Panel'),
      icon: mlopsIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: trans.__('Refresh MLOps Info and Pipeline'),
      execute: async () => {
        await Promise.all([
          model.refreshInfo(),
          model.pipeline.compile(),
          model.runs.refreshHistory()
        ]);
      }
    });
    app.commands.addCommand(CommandIDs.run, {
      label: trans.__('Run the Notebook Pipeline'),
      caption: trans.__('Run the pipeline of the current notebook (MLOps)'),
      isEnabled: () => model.pipeline.path !== null,
      execute: async () => {
        app.shell.activateById(panel.id);
        try {
          await run();
        } catch {
          // Shown in the panel.
        }
      }
    });
    app.commands.addCommand(CommandIDs.verify, {
      label: trans.__('Verify the Notebook Pipeline'),
      caption: trans.__(
        'Check that the pipeline computes what the notebook computes (MLOps)'
      ),
      isEnabled: () =>
        model.pipeline.path !== null && model.verify.status !== 'loading',
      execute: async () => {
        app.shell.activateById(panel.id);
        try {
          await verify();
        } catch {
          // Shown in the panel.
        }
      }
    });
    if (palette) {
      for (const command of [
        CommandIDs.openPanel,
        CommandIDs.refresh,
        CommandIDs.run,
        CommandIDs.verify
      ]) {
        palette.addItem({ command, category: 'MLOps' });
      }
    }

    if (!tracker) {
      return;
    }
    // Follow the notebook in focus: compile its content as edited.
    const onContentChanged = () => model.pipeline.schedule();
    const onSaved = (_: unknown, state: string) => {
      if (state === 'completed') {
        model.pipeline.schedule(0);
      }
    };
    const onPathChanged = () => follow(followed, true);
    const onActiveCell = () => {
      model.pipeline.setActiveCell(followed?.content.activeCellIndex ?? null);
    };
    const onDisposed = () => follow(tracker.currentWidget);
    const disconnect = (notebook: NotebookPanel) => {
      notebook.context.saveState.disconnect(onSaved);
      notebook.context.pathChanged.disconnect(onPathChanged);
      notebook.context.model?.contentChanged.disconnect(onContentChanged);
      notebook.content.activeCellChanged.disconnect(onActiveCell);
      notebook.disposed.disconnect(onDisposed);
    };
    const follow = (notebook: NotebookPanel | null, force = false) => {
      if (notebook?.isDisposed) {
        notebook = null;
      }
      if (notebook?.context.path.startsWith(`${RUNS_DRIVE}:`)) {
        // An executed step notebook: keep following the source notebook.
        return;
      }
      if (followed === notebook && !force) {
        return;
      }
      if (followed && followed !== notebook) {
        disconnect(followed);
      }
      const same = followed === notebook;
      followed = notebook;
      if (!notebook) {
        model.setNotebook(null);
        return;
      }
      if (!same) {
        notebook.context.saveState.connect(onSaved);
        notebook.context.pathChanged.connect(onPathChanged);
        notebook.content.activeCellChanged.connect(onActiveCell);
        notebook.disposed.connect(onDisposed);
        void notebook.context.ready.then(() => {
          if (followed === notebook) {
            notebook.context.model.contentChanged.connect(onContentChanged);
            model.pipeline.schedule(0);
          }
        });
      }
      const context = notebook.context;
      model.setNotebook(
        context.path,
        () => (context.isReady ? context.model.toJSON() : null),
        cellsOf(notebook)
      );
    };
    tracker.currentChanged.connect((_, notebook) => follow(notebook));
    follow(tracker.currentWidget);
  }
};

export default [modelPlugin, panelPlugin, cellsPlugin];
