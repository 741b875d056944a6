/**
 * Cell roles in the notebook (issue 14): badges, the role editor, per-cell
 * compiler problems and the MLOps notebook commands, against the real server
 * (real compiles, runs and registry). Tags are only ever set through the UI.
 */
import { expect, test } from '@jupyterlab/galata';
import { Locator, Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

import { flowNotebook } from './notebooks';

import { PANEL_ID } from './panel';
const SCREENSHOTS = process.env.MLOPS_SCREENSHOTS === '1';
const IMAGES = path.resolve(__dirname, '..', '..', 'docs', 'images');
const EXAMPLE = path.resolve(
  __dirname,
  '..',
  '..',
  'examples',
  'wine_classifier.ipynb'
);

test.setTimeout(240_000);
test.use({ autoGoto: true });

/** The example notebook with every tag removed. */
function untaggedWine(): string {
  const nb = JSON.parse(fs.readFileSync(EXAMPLE, 'utf-8'));
  for (const cell of nb.cells) {
    delete cell.metadata.tags;
  }
  return JSON.stringify(nb);
}

function cellAt(page: Page, index: number): Locator {
  return page
    .locator('.jp-NotebookPanel:visible .jp-Notebook .jp-Cell')
    .nth(index);
}

function badge(page: Page, index: number, kind: string): Locator {
  return cellAt(page, index).locator(`.jp-mlops-badge[data-kind="${kind}"]`);
}

/** Open the role menu of cell `index` from its badge. */
async function openRoleMenu(page: Page, index: number): Promise<Locator> {
  await cellAt(page, index).locator('.jp-mlops-role-button').click();
  const menu = page.locator('.lm-Menu.jp-mlops-role-menu').first();
  await expect(menu).toBeVisible();
  return menu;
}

function menuItem(menu: Locator, label: string): Locator {
  return menu.locator('.lm-Menu-item', {
    has: menu.page().locator('.lm-Menu-itemLabel', { hasText: label })
  });
}

/** Pick `path` (labels, submenus first) in the role menu of cell `index`. */
async function pickRole(page: Page, index: number, ...labels: string[]) {
  let menu = await openRoleMenu(page, index);
  for (const [i, label] of labels.entries()) {
    const item = menuItem(menu, label).first();
    await expect(item).toBeVisible();
    if (i < labels.length - 1) {
      await item.hover();
      await item.click();
      menu = page.locator('.lm-Menu.jp-mlops-role-menu').nth(i + 1);
      await expect(menu).toBeVisible();
    } else {
      await item.click();
    }
  }
  await expect(page.locator('.lm-Menu.jp-mlops-role-menu')).toHaveCount(0);
}

/** "New step…" from the badge menu; the dialog checks the name as typed. */
async function newStep(page: Page, index: number, name: string) {
  await pickRole(page, index, 'New step…');
  const dialog = page.locator('.jp-Dialog');
  await dialog.locator('input[name="step-name"]').fill(name);
  await dialog.locator('.jp-mod-accept').click();
  await expect(dialog).toHaveCount(0);
  await expect(badge(page, index, 'step')).toHaveText(name);
}

async function savedTags(page: Page, file: string): Promise<string[][]> {
  const response = await page.request.get(`/api/contents/${file}?content=1`);
  const { content } = await response.json();
  return content.cells.map((c: any) => c.metadata.tags ?? []);
}

async function runCommand(page: Page, id: string, args: object = {}) {
  await page.evaluate(
    async ({ id, args }) => {
      await (window as any).jupyterapp.commands.execute(id, args);
    },
    { id, args }
  );
}

async function shoot(target: Locator | Page, name: string) {
  if (SCREENSHOTS) {
    await target.screenshot({ path: path.join(IMAGES, name) });
  }
}

test.describe('MLOps cell roles (real server)', () => {
  test.beforeEach(async ({ page }) => {
    // The file browser may open the test folder before the upload creates it.
    const notFound = page.locator('.jp-Dialog', {
      hasText: 'Directory not found'
    });
    await page.addLocatorHandler(notFound, async dialog => {
      await dialog.locator('.jp-Dialog-button').first().click();
    });
  });

  test('assign every role through the UI, save, compile, undo, errors', async ({
    page,
    tmpPath
  }) => {
    await page.setViewportSize({ width: 1400, height: 1400 });
    const file = `${tmpPath}/wine.ipynb`;
    await page.contents.uploadContent(untaggedWine(), 'text', file);
    expect(await page.notebook.openByPath(file)).toBe(true);
    await page.notebook.activate('wine.ipynb');

    // Untagged: every code cell is in the implicit `main` step; the first
    // one starts it, the others continue it (left bar, "↳ main").
    await expect(badge(page, 1, 'step')).toHaveText('main');
    await expect(badge(page, 2, 'continued')).toContainText('main');
    await expect(cellAt(page, 2)).toHaveClass(/jp-mlops-step-cell/);
    await expect(cellAt(page, 0).locator('.jp-mlops-cell-roles')).toHaveCount(
      0
    ); // markdown

    await pickRole(page, 1, 'Parameters');
    await expect(badge(page, 1, 'role')).toHaveText('parameters');
    await pickRole(page, 2, 'Setup (runs before every step)');
    await expect(badge(page, 2, 'role')).toHaveText('setup');

    // The dialog refuses a name the compiler would refuse, with the reason.
    await pickRole(page, 4, 'New step…');
    const dialog = page.locator('.jp-Dialog');
    const input = dialog.locator('input[name="step-name"]');
    await input.fill('Load data');
    await expect(dialog.locator('.jp-mlops-step-name-error')).toContainText(
      'is not a step name'
    );
    await dialog.locator('.jp-mod-accept').click();
    await expect(dialog.locator('.jp-mlops-step-name-error')).toBeVisible();
    await dialog.locator('input[name="step-name"]').fill('load');
    await expect(dialog.locator('.jp-mlops-step-name-error')).toHaveCount(0);
    await dialog.locator('.jp-mod-accept').click();
    await expect(dialog).toHaveCount(0);
    await expect(badge(page, 4, 'step')).toHaveText('load');

    // Existing step, then continue the previous step, then skip.
    await expect(badge(page, 5, 'continued')).toContainText('load');
    await pickRole(page, 5, 'Existing step', 'load');
    await expect(badge(page, 5, 'step')).toHaveText('load');
    await pickRole(page, 5, 'Continue the previous step');
    await expect(badge(page, 5, 'continued')).toContainText('load');
    await pickRole(page, 5, 'Skip (not in the pipeline)');
    await expect(badge(page, 5, 'role')).toHaveText('skip');

    await newStep(page, 7, 'split');
    await newStep(page, 9, 'train');
    // The compiler says what train reads from: the dependency badge.
    await expect(badge(page, 9, 'after')).toHaveText('after: split');

    // The keyboard flow: palette command "MLOps: New step at cell".
    await cellAt(page, 11).locator('.jp-InputPrompt').click();
    await page.keyboard.press('Control+Shift+C');
    await page.keyboard.type('MLOps: New step at cell');
    await page.keyboard.press('Enter');
    await expect(dialog.locator('input[name="step-name"]')).toBeFocused();
    await page.keyboard.type('evaluate');
    await page.keyboard.press('Enter');
    await expect(badge(page, 11, 'step')).toHaveText('evaluate');
    await expect(badge(page, 11, 'after')).toHaveText('after: split, train');

    // Model and example: picked from what the compiler says train defines.
    if (SCREENSHOTS) {
      await openRoleMenu(page, 9);
      const model = menuItem(
        page.locator('.lm-Menu.jp-mlops-role-menu').first(),
        'Model'
      );
      await model.hover();
      await model.click();
      await expect(page.locator('.lm-Menu.jp-mlops-role-menu')).toHaveCount(2);
      await shoot(page, 'cells-role-menu.png');
      await page.keyboard.press('Escape');
      await page.keyboard.press('Escape');
    }
    await pickRole(page, 9, 'Model', 'clf');
    await expect(badge(page, 9, 'model')).toHaveText('model: clf');
    await pickRole(page, 9, 'Example', 'X_test');
    await expect(badge(page, 9, 'example')).toHaveText('example: X_test');

    await pickRole(page, 11, 'Cache off');
    await expect(badge(page, 11, 'cache')).toHaveText('cache off');

    // Metrics through the cell toolbar entry.
    await cellAt(page, 12).locator('.jp-InputPrompt').click();
    await cellAt(page, 12)
      .locator('.jp-cell-toolbar [data-command="jupyter-mlops:cell-role-menu"]')
      .click();
    await menuItem(
      page.locator('.lm-Menu.jp-mlops-role-menu').first(),
      'Metrics'
    ).click();
    await expect(badge(page, 12, 'role')).toHaveText('metrics');

    // Colours: the step badge, the cells' bar and the DAG node agree.
    await runCommand(page, 'jupyter-mlops:show-panel');
    const panel = page.locator(`[id="${PANEL_ID}"]`);
    await expect(panel.locator('.jp-mlops-dag-node')).toHaveCount(4);
    const colors: { [step: string]: string } = {};
    for (const [step, index] of [
      ['load', 4],
      ['split', 7],
      ['train', 9],
      ['evaluate', 11]
    ] as const) {
      const badgeColor = await badge(page, index, 'step').evaluate(
        n => getComputedStyle(n).backgroundColor
      );
      const nodeColor = await panel
        .locator(
          `.jp-mlops-dag-node[data-step="${step}"] .jp-mlops-dag-step-color`
        )
        .evaluate(n => getComputedStyle(n).fill);
      const bar = await cellAt(page, index).evaluate(
        n => getComputedStyle(n).boxShadow
      );
      expect(nodeColor).toBe(badgeColor);
      expect(bar).toContain(badgeColor);
      colors[step] = badgeColor;
    }
    expect(new Set(Object.values(colors)).size).toBe(4);
    await shoot(page, 'cells-tagged.png');

    // Save: standard tags only, unrelated metadata untouched; it compiles.
    await page.notebook.save();
    const expected = [
      [],
      ['parameters'],
      ['setup'],
      [],
      ['step:load'],
      ['skip'],
      [],
      ['step:split'],
      [],
      ['step:train', 'model:clf', 'example:X_test'],
      [],
      ['step:evaluate', 'cache:disabled'],
      ['metrics']
    ];
    expect(await savedTags(page, file)).toEqual(expected);
    const compiled = await (
      await page.request.get(
        `/mlops/api/pipeline?path=${encodeURIComponent(file)}`
      )
    ).json();
    expect(compiled.errors).toEqual([]);
    const steps = compiled.pipeline.steps;
    expect(steps.map((s: any) => s.name)).toEqual([
      'load',
      'split',
      'train',
      'evaluate'
    ]);
    expect(
      Object.fromEntries(steps.map((s: any) => [s.name, s.upstream]))
    ).toEqual({
      load: [],
      split: ['load'],
      train: ['split'],
      evaluate: ['split', 'train']
    });
    expect(steps.map((s: any) => s.cells)).toEqual([[4], [7], [9], [11]]);
    expect(compiled.pipeline.model).toEqual({ step: 'train', variable: 'clf' });
    expect(compiled.pipeline.metrics).toEqual(['accuracy', 'f1_macro']);
    expect(steps[3].cache).toBe(false);

    // Undo: the notebook's undo (Undo Cell Operation, `z`) restores the tags of the last role change,
    // including a model tag that moved from another cell.
    await pickRole(page, 11, 'Model', 'accuracy');
    await expect(badge(page, 11, 'model')).toHaveText('model: accuracy');
    await expect(badge(page, 9, 'model')).toHaveCount(0);
    await runCommand(page, 'notebook:undo-cell-action');
    await expect(badge(page, 11, 'model')).toHaveCount(0);
    await expect(badge(page, 9, 'model')).toHaveText('model: clf');
    await pickRole(page, 11, 'Skip (not in the pipeline)');
    await expect(badge(page, 11, 'role')).toHaveText('skip');
    await runCommand(page, 'notebook:undo-cell-action');
    await expect(badge(page, 11, 'step')).toHaveText('evaluate');
    await page.notebook.save();
    expect(await savedTags(page, file)).toEqual(expected);

    // A cell reading a name nothing defines: the compiler's error, on it.
    await cellAt(page, 12).locator('.jp-InputPrompt').click();
    await page.notebook.addCell('code', 'score = accuracy + undefined_thing');
    const problem = cellAt(page, 13).locator(
      '.jp-mlops-cell-problem[data-severity="error"]'
    );
    await expect(problem).toContainText('undefined_thing');
    await expect(badge(page, 13, 'continued')).toContainText('evaluate');
  });

  test('notebook toolbar: Run pipeline, step states on badges, Publish', async ({
    page,
    tmpPath
  }) => {
    // Room for the whole notebook toolbar next to the panel.
    await page.setViewportSize({ width: 1600, height: 1000 });
    const file = `${tmpPath}/toolbar_flow.ipynb`; // its own model name in the shared store
    await page.contents.uploadContent(
      flowNotebook(100 + (Date.now() % 100_000)),
      'text',
      file
    );
    expect(await page.notebook.openByPath(file)).toBe(true);
    await page.notebook.activate('toolbar_flow.ipynb');
    await expect(badge(page, 3, 'step')).toHaveText('train');
    await expect(badge(page, 3, 'after')).toHaveText('after: load');

    const toolbar = page.locator(
      '.jp-NotebookPanel:visible .jp-NotebookPanel-toolbar'
    );
    await toolbar.getByText('Run pipeline', { exact: true }).click();
    const state = cellAt(page, 3).locator('.jp-mlops-badge-status');
    await expect(state).toHaveAttribute('data-status', 'running', {
      timeout: 60_000
    });
    await expect(state).toHaveAttribute('data-status', 'succeeded', {
      timeout: 90_000
    });
    await expect(
      cellAt(page, 2).locator('.jp-mlops-badge-status')
    ).toHaveAttribute('data-status', /succeeded|cached/);

    await expect(
      cellAt(page, 4).locator('.jp-mlops-badge-status')
    ).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
    // Run pipeline showed the panel: the run is over there too.
    const panel = page.locator(`[id="${PANEL_ID}"]`);
    await expect(panel.locator('.jp-mlops-run-status')).toHaveAttribute(
      'data-status',
      'succeeded',
      { timeout: 60_000 }
    );

    await toolbar.getByText('Publish', { exact: true }).click();
    // The same publish as the panel's button: its outcome shows there too.
    await expect(panel.locator('.jp-mlops-publish-version')).toContainText(
      /version \d+/,
      { timeout: 60_000 }
    );
    const models = await (await page.request.get('/mlops/api/models')).json();
    expect(models.models.map((m: any) => m.name)).toContain('toolbar_flow');
  });
});
