import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { mlopsIcon } from './icons';
import { MlopsModel } from './model';
import { IMlopsModel } from './tokens';
import { MlopsPanel, PANEL_ID } from './widgets/panel';

export * from './api';
export * from './tokens';
export { MlopsModel } from './model';

namespace CommandIDs {
  export const openPanel = 'jupyter-mlops:open-panel';
  export const refresh = 'jupyter-mlops:refresh';
}

/**
 * Provides the MLOps model (server info, pipeline of the current notebook).
 */
const modelPlugin: JupyterFrontEndPlugin<IMlopsModel> = {
  id: 'jupyter-mlops:model',
  description: 'The jupyter-mlops model: server info and current pipeline.',
  autoStart: true,
  provides: IMlopsModel,
  activate: (app: JupyterFrontEnd): IMlopsModel => {
    const model = new MlopsModel({
      serverSettings: app.serviceManager.serverSettings
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
  optional: [INotebookTracker, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    model: IMlopsModel,
    tracker: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ): void => {
    const panel = new MlopsPanel(model);
    app.shell.add(panel, 'left', { rank: 900 });
    if (restorer) {
      restorer.add(panel, PANEL_ID);
    }

    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Open the MLOps Panel',
      icon: mlopsIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh MLOps Info and Pipeline',
      execute: async () => {
        await Promise.all([model.refreshInfo(), model.refreshPipeline()]);
      }
    });
    if (palette) {
      for (const command of [CommandIDs.openPanel, CommandIDs.refresh]) {
        palette.addItem({ command, category: 'MLOps' });
      }
    }

    if (!tracker) {
      return;
    }
    // Follow the notebook in focus; compile again when it is saved or renamed.
    let followed: NotebookPanel | null = null;
    const onSaved = (_: unknown, state: string) => {
      if (state === 'completed') {
        void model.refreshPipeline();
      }
    };
    const onPathChanged = (_: unknown, path: string) => {
      model.setNotebookPath(path);
    };
    const onDisposed = () => {
      // The tracker moves on to another notebook, or to none.
      follow(tracker.currentWidget);
    };
    const follow = (notebook: NotebookPanel | null) => {
      if (notebook?.isDisposed) {
        notebook = null;
      }
      if (followed === notebook) {
        return;
      }
      if (followed) {
        followed.context.saveState.disconnect(onSaved);
        followed.context.pathChanged.disconnect(onPathChanged);
        followed.disposed.disconnect(onDisposed);
      }
      followed = notebook;
      if (!notebook) {
        model.setNotebookPath(null);
        return;
      }
      notebook.context.saveState.connect(onSaved);
      notebook.context.pathChanged.connect(onPathChanged);
      notebook.disposed.connect(onDisposed);
      model.setNotebookPath(notebook.context.path);
    };
    tracker.currentChanged.connect((_, notebook) => follow(notebook));
    follow(tracker.currentWidget);
  }
};

export default [modelPlugin, panelPlugin];
