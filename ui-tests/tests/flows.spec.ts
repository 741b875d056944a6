/**
 * The panel's acceptance flows (issue 13) against the real server: real
 * compiles, real background runs and events, real MLflow registry. No mocks.
 */
import { expect, test } from '@jupyterlab/galata';
import { Locator, Page } from '@playwright/test';
import * as path from 'path';

import {
  brokenNotebook,
  failingNotebook,
  flowNotebook,
  untaggedNotebook
} from './notebooks';
import { RUN_TIMEOUT, openPanel, runAndWait } from './panel';

const SCREENSHOTS = process.env.MLOPS_SCREENSHOTS === '1';
const IMAGES = path.resolve(__dirname, '..', '..', 'docs', 'images');

// Runs and publishes take seconds each on a busy machine.
test.setTimeout(300_000);
test.use({ autoGoto: true });

/** Upload a notebook and open it with the panel showing. */
async function openNotebook(
  page: Page,
  tmpPath: string,
  name: string,
  content: string
): Promise<{ panel: Locator; file: string }> {
  const file = `${tmpPath}/${name}`;
  await page.contents.uploadContent(content, 'text', file);
  expect(await page.notebook.openByPath(file)).toBe(true);
  await page.notebook.activate(name);
  const panel = await openPanel(page);
  await expect(panel.locator('.jp-mlops-pipeline-notebook')).toHaveText(file);
  return { panel, file };
}

function step(panel: Locator, name: string): Locator {
  return panel.locator(`.jp-mlops-step[data-step="${name}"]`);
}

function node(panel: Locator, name: string): Locator {
  return panel.locator(`.jp-mlops-dag-node[data-step="${name}"]`);
}

async function setParameter(panel: Locator, name: string, value: string) {
  const input = panel.locator(`.jp-mlops-parameters input[id$="_${name}"]`);
  await input.fill(value);
  await input.blur();
}

/**
 * A data size no earlier run used (the step cache is shared by the tests and
 * their retries): the flow's steps really run.
 */
function uncached(): number {
  return 100 + (Date.now() % 100_000);
}

/** The number of cells of the notebook as saved on the server. */
async function savedCells(page: Page, file: string): Promise<number> {
  const response = await page.request.get(`/api/contents/${file}?content=1`);
  return (await response.json()).content.cells.length;
}

async function shoot(target: Locator | Page, name: string) {
  if (SCREENSHOTS) {
    await target.screenshot({ path: path.join(IMAGES, name) });
  }
}

test.describe('MLOps panel flows (real server)', () => {
  test('edit, run live, history, publish, models and aliases', async ({
    page,
    tmpPath
  }) => {
    if (SCREENSHOTS) {
      // Room for every section in the pictures.
      await page.setViewportSize({ width: 1280, height: 1500 });
    }
    const { panel, file } = await openNotebook(
      page,
      tmpPath,
      'flow.ipynb',
      flowNotebook(uncached())
    );

    // The DAG: three steps, edges labelled with the variables passed.
    await expect(panel.locator('.jp-mlops-dag-node')).toHaveCount(3);
    const loadToTrain = panel.locator(
      '.jp-mlops-dag-edge[data-from="load"][data-to="train"]'
    );
    await expect(loadToTrain).toContainText('data');
    await expect(
      panel.locator('.jp-mlops-dag-edge[data-from="train"][data-to="evaluate"]')
    ).toContainText('model');
    const loadToEvaluate = panel.locator(
      '.jp-mlops-dag-edge[data-from="load"][data-to="evaluate"]'
    );
    await expect(loadToEvaluate).toHaveCount(0);

    // A new cell reading `data`, not saved: the DAG follows the editor.
    await page.notebook.addCell('code', 'n_points = len(data)');
    await expect(loadToEvaluate).toContainText('data');
    expect(await savedCells(page, file)).toBe(5);

    // Clicking a node selects its cell.
    await node(panel, 'train').click();
    await expect(
      page.locator('.jp-NotebookPanel:visible .jp-Cell.jp-mod-active')
    ).toContainText('time.sleep(2)');
    await openPanel(page);

    // Change a parameter; Run (saves first); states follow the events.
    await setParameter(panel, 'rounds', '5');
    await panel.locator('.jp-mlops-run-button').click();
    const train = step(panel, 'train');
    await expect(train).toHaveAttribute('data-status', 'running', {
      timeout: RUN_TIMEOUT
    });
    await expect(train.locator('.jp-mlops-step-state')).toHaveText(
      /running \d+\.\d s/
    );
    await expect(node(panel, 'train')).toHaveAttribute(
      'data-status',
      'running'
    );
    // Its latest output lines, while it runs.
    await expect(train.locator('.jp-mlops-step-output')).toContainText(
      'training'
    );
    await shoot(panel, 'panel-run-progress.png');
    const runStatus = panel.locator('.jp-mlops-run-status');
    await expect(runStatus).toHaveAttribute('data-status', 'succeeded', {
      timeout: RUN_TIMEOUT
    });
    for (const name of ['load', 'train', 'evaluate']) {
      await expect(step(panel, name)).toHaveAttribute(
        'data-status',
        'succeeded'
      );
      // Every state shown, in order: (pending,) running, succeeded.
      expect(await step(panel, name).getAttribute('data-history')).toMatch(
        /^(pending,)?(queued,)?running,succeeded$/
      );
    }
    // Saved before the run (setting saveBeforeRun, on by default).
    expect(await savedCells(page, file)).toBe(6);
    const run1 = (await runStatus.getAttribute('data-run'))!;

    // History: the run with its parameter and metric.
    const item = panel.locator(`.jp-mlops-run-item[data-run="${run1}"]`);
    await expect(item).toContainText('rounds=5');
    await expect(item.locator('.jp-mlops-run-item-metrics')).toContainText(
      'score'
    );

    // Publish, one click.
    await panel.locator('.jp-mlops-publish-button').click();
    const version = panel.locator('.jp-mlops-publish-version');
    await expect(version).toContainText('version 1', { timeout: RUN_TIMEOUT });
    await expect(panel.locator('.jp-mlops-snippet')).toContainText(
      'load_model('
    );
    await shoot(panel, 'panel-publish.png');
    const modelName = (await version.textContent())!.replace(/ version 1$/, '');

    // Models: version 1; set alias production.
    const models = panel.locator('.jp-mlops-models');
    await models.locator('.jp-mlops-models-refresh').click();
    await models.locator('.jp-mlops-model-select').selectOption(modelName);
    await expect(
      models.locator('.jp-mlops-version-item[data-version="1"]')
    ).toBeVisible();
    // The model card: its Markdown rendered (title, metrics table), its YAML front
    // matter folded apart as code, never run into the text.
    const card = models.locator('.jp-mlops-model-card');
    await expect(card.locator('h1')).toContainText('version 1');
    await expect(card.locator('table')).toContainText('score');
    await expect(card).not.toContainText('created_by:');
    await expect(
      models.locator('.jp-mlops-model-card-header pre')
    ).toContainText('created_by:');
    await models.locator('.jp-mlops-alias-name').fill('production');
    await models.locator('.jp-mlops-alias-version').selectOption('1');
    await models.locator('.jp-mlops-alias-set').click();
    await expect(
      models.locator(
        '.jp-mlops-version-item[data-version="1"] .jp-mlops-alias[data-alias="production"]'
      )
    ).toBeVisible();

    // Change a parameter, run, publish: version 2.
    await setParameter(panel, 'rounds', '7');
    const run2 = await runAndWait(panel);
    expect(run2).not.toBe(run1);
    await panel.locator('.jp-mlops-publish-button').click();
    await expect(panel.locator('.jp-mlops-publish-version')).toContainText(
      'version 2',
      { timeout: RUN_TIMEOUT }
    );

    // Move the alias: the confirmation names the version losing it.
    await expect(
      models.locator('.jp-mlops-version-item[data-version="2"]')
    ).toBeVisible();
    await models.locator('.jp-mlops-alias-name').fill('production');
    await models.locator('.jp-mlops-alias-version').selectOption('2');
    await models.locator('.jp-mlops-alias-set').click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('version 1 loses it');
    await dialog.locator('.jp-Dialog-button.jp-mod-warn').click();
    await expect(
      models.locator(
        '.jp-mlops-version-item[data-version="2"] .jp-mlops-alias[data-alias="production"]'
      )
    ).toBeVisible();
    const history = models.locator('.jp-mlops-alias-history');
    await expect(history).toContainText('production set on version 1');
    await expect(history).toContainText('production moved from version 1 to 2');
    await shoot(panel, 'panel-models.png');

    // Compare the two runs.
    await panel
      .locator(`.jp-mlops-run-item[data-run="${run1}"] input[type=checkbox]`)
      .check();
    await panel
      .locator(`.jp-mlops-run-item[data-run="${run2}"] input[type=checkbox]`)
      .check();
    const compare = panel.locator('.jp-mlops-compare-table');
    await expect(compare.locator('.jp-mlops-compare-param')).toContainText([
      /rounds\s*5\s*7|rounds\s*7\s*5/
    ]);
    await expect(compare.locator('.jp-mlops-compare-metric')).toHaveCount(1);

    if (SCREENSHOTS) {
      await page.theme.setDarkTheme();
      await shoot(panel, 'panel-dark.png');
      await page.theme.setLightTheme();
    }
  });

  test('re-run unchanged is cached; a reload re-attaches to a run', async ({
    page,
    tmpPath
  }) => {
    const { panel } = await openNotebook(
      page,
      tmpPath,
      'again.ipynb',
      flowNotebook()
    );
    await runAndWait(panel);
    await runAndWait(panel);
    for (const name of ['load', 'train', 'evaluate']) {
      await expect(step(panel, name)).toHaveAttribute('data-status', 'cached');
    }

    // A changed parameter runs again; reload while train sleeps.
    await setParameter(panel, 'scale', '3');
    await panel.locator('.jp-mlops-run-button').click();
    await expect(step(panel, 'train')).toHaveAttribute(
      'data-status',
      'running',
      { timeout: RUN_TIMEOUT }
    );
    const runId = await panel
      .locator('.jp-mlops-run-status')
      .getAttribute('data-run');
    // (The notebook, not the launcher, is the restored tab: don't wait for it.)
    await page.reload({ waitForIsReady: false });
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    const again = await openPanel(page);
    const runStatus = again.locator('.jp-mlops-run-status');
    await expect(runStatus).toHaveAttribute('data-run', runId!, {
      timeout: 30_000
    });
    await expect(runStatus).toHaveAttribute('data-status', 'succeeded', {
      timeout: RUN_TIMEOUT
    });
    await expect(step(again, 'train')).toHaveAttribute(
      'data-status',
      'succeeded'
    );
    expect(await step(again, 'train').getAttribute('data-history')).toMatch(
      /running,succeeded$/
    );

    // Cancel while a step runs.
    await setParameter(again, 'scale', '4');
    await again.locator('.jp-mlops-run-button').click();
    await expect(step(again, 'train')).toHaveAttribute(
      'data-status',
      'running',
      { timeout: RUN_TIMEOUT }
    );
    await again.locator('.jp-mlops-cancel-button').click();
    await expect(again.locator('.jp-mlops-run-status')).toHaveAttribute(
      'data-status',
      'cancelled',
      { timeout: 30_000 }
    );
    await expect(again.locator('.jp-mlops-cancel-button')).toBeDisabled();
  });

  test('the panel follows the notebook in focus; a run keeps streaming', async ({
    page,
    tmpPath
  }) => {
    const { panel, file } = await openNotebook(
      page,
      tmpPath,
      'first.ipynb',
      flowNotebook(uncached())
    );
    await panel.locator('.jp-mlops-run-button').click();
    await expect(step(panel, 'load')).toHaveAttribute(
      'data-status',
      /running|succeeded/,
      { timeout: RUN_TIMEOUT }
    );
    const runId = await panel
      .locator('.jp-mlops-run-status')
      .getAttribute('data-run');

    // Another notebook: its own pipeline, no run.
    const other = `${tmpPath}/plain.ipynb`;
    await page.contents.uploadContent(untaggedNotebook(), 'text', other);
    // (Opened by command: the file browser is not the sidebar shown.)
    await page.evaluate(async path => {
      await (window as any).jupyterapp.commands.execute('docmanager:open', {
        path
      });
    }, other);
    await expect(panel.locator('.jp-mlops-pipeline-notebook')).toHaveText(
      other
    );
    await expect(node(panel, 'main')).toBeVisible();
    await expect(panel.locator('.jp-mlops-run-status')).toHaveCount(0);

    // Back: the same run, followed to its end meanwhile.
    await page.notebook.activate('first.ipynb');
    await openPanel(page);
    await expect(panel.locator('.jp-mlops-pipeline-notebook')).toHaveText(file);
    const runStatus = panel.locator('.jp-mlops-run-status');
    await expect(runStatus).toHaveAttribute('data-run', runId!);
    await expect(runStatus).toHaveAttribute('data-status', 'succeeded', {
      timeout: RUN_TIMEOUT
    });
    expect(await step(panel, 'train').getAttribute('data-history')).toMatch(
      /running,succeeded$/
    );
  });

  test('a compile error is listed; clicking it selects the cell', async ({
    page,
    tmpPath
  }) => {
    const { panel } = await openNotebook(
      page,
      tmpPath,
      'broken.ipynb',
      brokenNotebook()
    );
    const problem = panel.locator('.jp-mlops-problems .jp-mlops-problem');
    await expect(problem).toHaveCount(1);
    await expect(problem).toContainText('missing');
    await expect(problem).toHaveAttribute('data-cell', '2');
    await problem.locator('button').click();
    await expect(
      page.locator('.jp-NotebookPanel:visible .jp-Cell.jp-mod-active')
    ).toContainText('c = b + missing');
    await expect(panel.locator('.jp-mlops-run-button')).toBeDisabled();
  });

  test('an untagged notebook is one main step with a hint', async ({
    page,
    tmpPath
  }) => {
    const { panel } = await openNotebook(
      page,
      tmpPath,
      'plain.ipynb',
      untaggedNotebook()
    );
    await expect(panel.locator('.jp-mlops-dag-node')).toHaveCount(1);
    await expect(node(panel, 'main')).toBeVisible();
    await expect(panel.locator('.jp-mlops-hint').first()).toContainText(
      'step:NAME'
    );
  });

  test('a failing step shows its error and opens its executed notebook', async ({
    page,
    tmpPath
  }) => {
    const { panel } = await openNotebook(
      page,
      tmpPath,
      'fails.ipynb',
      failingNotebook()
    );
    await runAndWait(panel, 'failed');
    const failed = step(panel, 'explode');
    await expect(failed).toHaveAttribute('data-status', 'failed');
    await expect(failed.locator('.jp-mlops-step-error')).toContainText(
      'the data is bad'
    );
    await expect(node(panel, 'explode')).toHaveAttribute(
      'data-status',
      'failed'
    );
    await expect(step(panel, 'prepare')).toHaveAttribute(
      'data-status',
      'succeeded'
    );
    // The error is in view without scrolling the section by hand.
    await expect(failed.locator('.jp-mlops-step-error')).toBeInViewport();
    await shoot(panel, 'panel-step-failed.png');
    await failed.locator('.jp-mlops-open-step').click();
    const tab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', {
      hasText: 'explode.ipynb'
    });
    await expect(tab).toBeVisible();
    const opened = page.locator('.jp-NotebookPanel:visible');
    await expect(opened.locator('.jp-Cell.jp-mod-active')).toContainText(
      "raise ValueError('the data is bad')"
    );
    await expect(opened.locator('.jp-OutputArea-output').first()).toContainText(
      'ValueError'
    );
  });

  test('a publish refused by a gate shows the gate and its values', async ({
    page,
    tmpPath
  }) => {
    const { panel } = await openNotebook(
      page,
      tmpPath,
      'gated.ipynb',
      flowNotebook()
    );
    // Parameters are validated before a run; reset brings the defaults back.
    await setParameter(panel, 'rounds', '');
    await panel.locator('.jp-mlops-run-button').click();
    await expect(panel.locator('.jp-mlops-run-error')).toContainText(
      'rounds needs a value'
    );
    await expect(panel.locator('.jp-mlops-run-status')).toHaveCount(0);
    await panel.locator('.jp-mlops-reset').click();
    await expect(
      panel.locator('.jp-mlops-parameters input[id$="_rounds"]')
    ).toHaveValue('3');

    await runAndWait(panel);
    await panel.locator('.jp-mlops-publish-more').click();
    const dialog = page.locator('.jp-Dialog');
    await dialog.locator('input[name="name"]').fill('gated-model');
    await dialog.locator('textarea[name="require"]').fill('score>=1000');
    await dialog.locator('.jp-Dialog-button.jp-mod-accept').click();
    const refused = panel.locator('.jp-mlops-publish-refused');
    await expect(refused).toContainText('score>=1000', {
      timeout: RUN_TIMEOUT
    });
    await expect(refused.locator('.jp-mlops-check-item').last()).toContainText(
      /score>=1000.*value=\d/
    );
    await expect(panel.locator('.jp-mlops-publish-version')).toHaveCount(0);
    // The refusal and the failed gate are in view without scrolling by hand.
    await expect(refused.locator('.jp-mlops-error')).toBeInViewport();
    await expect(
      refused.locator('.jp-mlops-check-item[data-ok="false"]').first()
    ).toBeInViewport();
    await shoot(panel, 'panel-publish-refused.png');
  });
});
