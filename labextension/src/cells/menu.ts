import { TranslationBundle } from '@jupyterlab/translation';
import type { CommandRegistry } from '@lumino/commands';
import { Menu } from '@lumino/widgets';

import { IPipelineStep } from '../api';
import { ICellInfo } from './model';

/** The command setting a cell role (args: a `RoleAction`). */
export const SET_ROLE = 'jupyter-mlops:set-cell-role';
/** The command asking a new step's name. */
export const NEW_STEP = 'jupyter-mlops:new-step';

/**
 * The role menu of a cell: every role the editor sets, the notebook's steps,
 * and the variables the compiler says the cell's step defines.
 */
export function roleMenu(
  commands: CommandRegistry,
  info: ICellInfo,
  steps: readonly IPipelineStep[],
  trans: TranslationBundle
): Menu {
  const menu = new Menu({ commands });
  menu.addClass('jp-mlops-role-menu');
  menu.title.label = trans.__('Cell role');

  const sub = (label: string, fill: (m: Menu) => void) => {
    const m = new Menu({ commands });
    m.addClass('jp-mlops-role-menu');
    m.title.label = label;
    fill(m);
    if (!m.items.length) {
      m.addItem({
        command: SET_ROLE,
        args: { role: 'none', label: trans.__('(none yet)') }
      });
    }
    menu.addItem({ type: 'submenu', submenu: m });
  };

  menu.addItem({ command: NEW_STEP, args: { menu: true } });
  sub(trans.__('Existing step'), m => {
    for (const step of steps) {
      m.addItem({ command: SET_ROLE, args: { role: 'step', name: step.name } });
    }
  });
  menu.addItem({ command: SET_ROLE, args: { role: 'continue' } });
  menu.addItem({ type: 'separator' });
  for (const role of ['setup', 'parameters', 'skip', 'metrics']) {
    menu.addItem({ command: SET_ROLE, args: { role } });
  }
  menu.addItem({ type: 'separator' });
  const step = steps.find(s => s.name === info.step);
  const defines = step ? (step.defines ?? step.outputs) : [];
  sub(trans.__('Model'), m => {
    for (const variable of defines) {
      m.addItem({ command: SET_ROLE, args: { role: 'model', variable } });
    }
  });
  // The example is evaluated at the end of the step: its own names and
  // those of the steps before it.
  const available = new Set<string>();
  for (const s of steps) {
    for (const name of s.defines ?? s.outputs) {
      available.add(name);
    }
    if (s === step) {
      break;
    }
  }
  sub(trans.__('Example'), m => {
    if (!step) {
      return;
    }
    for (const expression of [...available].sort()) {
      m.addItem({ command: SET_ROLE, args: { role: 'example', expression } });
    }
  });
  menu.addItem({
    command: SET_ROLE,
    args: { role: 'cache', off: !info.tags.cacheOff }
  });
  return menu;
}
