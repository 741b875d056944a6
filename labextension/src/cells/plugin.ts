import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import type { Cell, ICellModel } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { tagIcon } from '@jupyterlab/ui-components';
import { Menu } from '@lumino/widgets';

import { RUNS_DRIVE } from '../drive';
import { mlopsIcon } from '../icons';
import { IMlopsModel } from '../tokens';
import { publishRun } from '../widgets/publish';
import { CellRolesRow, ROLE_ROW_CLASS } from './badges';
import { askStepName } from './dialogs';
import { NEW_STEP, roleMenu, SET_ROLE } from './menu';
import { CellRolesModel } from './model';
import { applyRole, RoleAction, withoutKind } from './tags';

/** The id of the cell roles plugin (its settings: `schema/cells.json`). */
export const CELLS_PLUGIN_ID = 'jupyter-mlops:cells';

namespace CommandIDs {
  export const roleMenu = 'jupyter-mlops:cell-role-menu';
  export const setRole = SET_ROLE;
  export const newStep = NEW_STEP;
  export const runPipeline = 'jupyter-mlops:run-pipeline';
  export const publishLast = 'jupyter-mlops:publish-last-run';
  export const showPanel = 'jupyter-mlops:show-panel';
  /** The panel plugin's commands this plugin delegates to. */
  export const panelRun = 'jupyter-mlops:run';
  export const panelOpen = 'jupyter-mlops:open-panel';
}

/**
 * Cell roles in notebooks: a badge row on every code cell (role, step colour,
 * dependencies, run state, compiler problems), the role editor (badge menu,
 * cell toolbar, commands) and the notebook toolbar's Run pipeline / Publish.
 */
export const cellsPlugin: JupyterFrontEndPlugin<void> = {
  id: CELLS_PLUGIN_ID,
  description:
    'Cell role badges, the role editor and the MLOps notebook commands.',
  autoStart: true,
  requires: [IMlopsModel, INotebookTracker],
  optional: [ITranslator, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    mlops: IMlopsModel,
    tracker: INotebookTracker,
    translator: ITranslator | null,
    palette: ICommandPalette | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_mlops');
    const { commands } = app;
    const models = new Map<NotebookPanel, CellRolesModel>();
    let openMenu: Menu | null = null;

    const current = () => {
      const panel = tracker.currentWidget;
      const model = panel ? models.get(panel) : undefined;
      return panel && model ? { panel, model } : null;
    };
    const cellInfo =
      (panel: NotebookPanel, model: CellRolesModel) => (cell: Cell) =>
        model.info(panel.content.widgets.indexOf(cell));

    const showMenu = (
      panel: NotebookPanel,
      cell: Cell,
      x: number,
      y: number
    ) => {
      const model = models.get(panel);
      const index = panel.content.widgets.indexOf(cell);
      const info = model?.info(index);
      if (!model || !info) {
        return;
      }
      if (panel.content.activeCellIndex !== index) {
        panel.content.activeCellIndex = index;
      }
      panel.content.deselectAll();
      panel.content.mode = 'command';
      openMenu?.dispose();
      openMenu = roleMenu(commands, info, model.steps, trans);
      openMenu.open(x, y);
    };

    /** Attach a role row to each code cell of a notebook (as cells render). */
    const decorate = (panel: NotebookPanel) => {
      const model = models.get(panel);
      if (!model) {
        return;
      }
      for (const cell of panel.content.widgets) {
        if (cell.model.type !== 'code') {
          continue;
        }
        void cell.ready.then(() => {
          if (!cell.isDisposed && models.get(panel) === model) {
            CellRolesRow.addTo(
              cell,
              cellInfo(panel, model),
              {
                openMenu: (c, x, y) => showMenu(panel, c, x, y)
              },
              trans
            )?.update();
          }
        });
      }
    };

    /** Re-render a notebook's role rows (once per frame, however many changes). */
    const pending = new Set<NotebookPanel>();
    const update = (panel: NotebookPanel) => {
      if (pending.has(panel)) {
        return;
      }
      pending.add(panel);
      requestAnimationFrame(() => {
        pending.delete(panel);
        if (!panel.isDisposed) {
          render(panel);
        }
      });
    };
    const render = (panel: NotebookPanel) => {
      for (const cell of panel.content.widgets) {
        for (const widget of (cell.layout as any)?.widgets ?? []) {
          if (widget instanceof CellRolesRow) {
            widget.update();
          }
        }
      }
    };

    tracker.widgetAdded.connect((_, panel) => {
      if (panel.context.path.startsWith(`${RUNS_DRIVE}:`)) {
        return; // an executed step notebook: read-only, no roles to edit
      }
      const model = new CellRolesModel(panel, mlops);
      models.set(panel, model);
      model.changed.connect(() => update(panel));
      void panel.context.ready.then(() => {
        decorate(panel);
        panel.content.model?.cells.changed.connect(() =>
          requestAnimationFrame(() => decorate(panel))
        );
      });
      panel.disposed.connect(() => {
        models.delete(panel);
        model.dispose();
      });
    });

    /** Write tags in one notebook transaction: the notebook's undo restores them. */
    const writeTags = (
      panel: NotebookPanel,
      changes: Map<ICellModel, string[]>
    ) => {
      const notebook = panel.content.model;
      if (!notebook || !changes.size) {
        return;
      }
      notebook.sharedModel.transact(() => {
        for (const [cell, tags] of changes) {
          if (tags.length) {
            cell.setMetadata('tags', tags);
          } else {
            cell.deleteMetadata('tags');
          }
        }
      });
      models.get(panel)?.refresh();
    };

    const tagsOf = (cell: ICellModel) =>
      ((cell.getMetadata('tags') as string[] | undefined) ?? []).slice();

    const setRole = (action: RoleAction) => {
      const panel = tracker.currentWidget;
      const cell = panel?.content.activeCell;
      if (!panel || !cell || cell.model.type !== 'code') {
        return;
      }
      const changes = new Map<ICellModel, string[]>();
      const before = tagsOf(cell.model);
      const after = applyRole(before, action);
      if (JSON.stringify(before) !== JSON.stringify(after)) {
        changes.set(cell.model, after);
      }
      if (action.role === 'model' || action.role === 'example') {
        // At most one per notebook: the tag moves to this cell.
        const cells = panel.content.model!.cells;
        for (let i = 0; i < cells.length; i++) {
          const other = cells.get(i);
          if (other !== cell.model && other.type === 'code') {
            const tags = tagsOf(other);
            const cleaned = withoutKind(tags, action.role);
            if (cleaned.length !== tags.length) {
              changes.set(other, cleaned);
            }
          }
        }
      }
      writeTags(panel, changes);
    };

    const roleLabels: { [role: string]: string } = {
      continue: trans.__('Continue the previous step'),
      setup: trans.__('Setup (runs before every step)'),
      parameters: trans.__('Parameters'),
      skip: trans.__('Skip (not in the pipeline)'),
      metrics: trans.__('Metrics')
    };
    const activeInfo = () => {
      const found = current();
      const cell = found?.panel.content.activeCell;
      return found && cell
        ? found.model.info(found.panel.content.widgets.indexOf(cell))
        : null;
    };

    commands.addCommand(CommandIDs.setRole, {
      label: args => {
        switch (args.role) {
          case 'step':
            return String(args.name);
          case 'model':
            return String(args.variable);
          case 'example':
            return String(args.expression);
          case 'cache':
            return trans.__('Cache off');
          case 'none':
            return String(args.label ?? '');
          default:
            return roleLabels[String(args.role)] ?? String(args.role);
        }
      },
      isEnabled: args => args.role !== 'none' && !!activeInfo(),
      isToggled: args => {
        const info = activeInfo();
        if (!info) {
          return false;
        }
        switch (args.role) {
          case 'step':
            return info.tags.role === 'step' && info.step === args.name;
          case 'continue':
            return !info.tags.role && !!info.step && !info.first;
          case 'model':
            return info.tags.model === args.variable;
          case 'example':
            return info.tags.example === args.expression;
          case 'cache':
            return info.tags.cacheOff;
          default:
            return info.tags.role === args.role;
        }
      },
      execute: args => {
        const role = String(args.role);
        if (role === 'step') {
          setRole({ role, name: String(args.name) });
        } else if (role === 'model') {
          setRole({ role, variable: String(args.variable) });
        } else if (role === 'example') {
          setRole({ role, expression: String(args.expression) });
        } else if (role === 'cache') {
          setRole({ role, off: !activeInfo()?.tags.cacheOff });
        } else if (
          ['continue', 'setup', 'parameters', 'skip', 'metrics'].includes(role)
        ) {
          setRole({ role } as RoleAction);
        }
      }
    });

    commands.addCommand(CommandIDs.newStep, {
      label: args =>
        args.menu ? trans.__('New step…') : trans.__('MLOps: New step at cell'),
      caption: trans.__('Start a new pipeline step at the active cell'),
      isEnabled: () => tracker.activeCell?.model.type === 'code',
      execute: async () => {
        const found = current();
        const cell = found?.panel.content.activeCell;
        if (!found || !cell) {
          return;
        }
        const name = await askStepName(
          found.model.steps.map(s => s.name),
          trans
        );
        if (name && found.panel.content.activeCell === cell) {
          setRole({ role: 'step', name });
        }
        found.panel.content.activate();
      }
    });

    commands.addCommand(CommandIDs.roleMenu, {
      label: trans.__('MLOps: Set cell role…'),
      caption: trans.__('Set the pipeline role of this cell (MLOps)'),
      icon: args => (args.toolbar ? tagIcon : undefined),
      isEnabled: () => tracker.activeCell?.model.type === 'code',
      execute: () => {
        const panel = tracker.currentWidget;
        const cell = panel?.content.activeCell;
        if (!panel || !cell) {
          return;
        }
        const anchor =
          cell.node.querySelector(`.${ROLE_ROW_CLASS} .jp-mlops-role-button`) ??
          cell.node;
        const box = anchor.getBoundingClientRect();
        showMenu(panel, cell, box.left, box.bottom);
      }
    });

    commands.addCommand(CommandIDs.runPipeline, {
      label: args =>
        args.toolbar
          ? trans.__('Run pipeline')
          : trans.__('MLOps: Run pipeline'),
      caption: trans.__('Run the pipeline of this notebook (MLOps)'),
      isEnabled: () => !!tracker.currentWidget,
      execute: () => commands.execute(CommandIDs.panelRun)
    });

    commands.addCommand(CommandIDs.showPanel, {
      label: trans.__('MLOps: Show pipeline panel'),
      icon: args => (args.toolbar ? undefined : mlopsIcon),
      execute: () => commands.execute(CommandIDs.panelOpen)
    });

    commands.addCommand(CommandIDs.publishLast, {
      label: args =>
        args.toolbar
          ? trans.__('Publish')
          : trans.__('MLOps: Publish last run'),
      caption: trans.__(
        "Publish the model of this notebook's last run with its saved settings (MLOps)"
      ),
      isEnabled: () => !!tracker.currentWidget,
      execute: async () => {
        const found = current();
        if (!found) {
          return;
        }
        const path = found.panel.context.path;
        // The run shown for this notebook, else its newest one; its record
        // fresh from the server (the live state may lack the final record).
        const live = mlops.runs.path === path ? mlops.runs.current : null;
        const record = live
          ? await mlops.client.getRun(live.id)
          : (await mlops.client.listRuns({ path, limit: 1 })).runs[0];
        const runId = record?.id ?? null;
        const status = record?.status ?? null;
        const hasModel = !!record?.model;
        if (!runId) {
          Notification.warning(
            trans.__('%1 has no run yet: run the pipeline first.', path),
            { autoClose: 5000 }
          );
          return;
        }
        if (status !== 'succeeded' || !hasModel) {
          Notification.warning(
            status !== 'succeeded'
              ? trans.__(
                  'The last run %1 is %2: nothing to publish.',
                  runId,
                  status ?? ''
                )
              : trans.__(
                  'The last run %1 has no model: tag a variable model:VAR.',
                  runId
                ),
            { autoClose: 5000 }
          );
          return;
        }
        const defaults = found.model.pipeline.result?.publish_defaults ?? null;
        await commands.execute(CommandIDs.panelOpen);
        const outcome = await publishRun(mlops, runId, defaults);
        if (outcome.ok) {
          Notification.success(
            trans.__(
              'Published %1 version %2',
              outcome.result.name,
              outcome.result.version
            ),
            { autoClose: 5000 }
          );
        } else {
          Notification.error(trans.__('Publish refused: %1', outcome.message), {
            autoClose: false
          });
        }
      }
    });

    if (palette) {
      for (const command of [
        CommandIDs.newStep,
        CommandIDs.roleMenu,
        CommandIDs.runPipeline,
        CommandIDs.publishLast,
        CommandIDs.showPanel
      ]) {
        palette.addItem({ command, category: 'MLOps' });
      }
    }
  }
};
