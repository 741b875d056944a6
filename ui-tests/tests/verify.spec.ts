/**
 * Propose steps and Verify (issue 16) against the real server: a real split
 * proposal, tags written through the notebook model, a real background run
 * and a real verification (notebook and pipeline kernels). No mocks.
 */
import { expect, test } from '@jupyterlab/galata';
import { Locator, Page } from '@playwright/test';
import * as path from 'path';

import { notebook } from './notebooks';
import { openPanel } from './panel';

const SCREENSHOTS = process.env.MLOPS_SCREENSHOTS === '1';
const IMAGES = path.resolve(__dirname, '..', '..', 'docs', 'images');
const RUN_TIMEOUT = 120_000;

test.setTimeout(300_000);
test.use({ autoGoto: true });

function markdown(source: string, ...tags: string[]) {
  return {
    cell_type: 'markdown',
    metadata: tags.length ? { tags } : {},
    source
  };
}

function code(source: string, ...tags: string[]) {
  return {
    cell_type: 'code',
    metadata: tags.length ? { tags } : {},
    source,
    outputs: [],
    execution_count: null
  };
}

/**
 * No step tags, three H2 sections (stdlib only): a list appended to in the
 * middle section and read in the last one; a parameters cell; an imports
 * cell; one unrelated tag that every change must keep.
 */
function sectionsNotebook(): string {
  return notebook(
    [
      markdown('# Counter', 'intro'),
      code('import statistics'),
      code('n = 4', 'parameters'),
      markdown('## Load data'),
      code('data = list(range(1, n + 1))\nlst = [1, 2]'),
      markdown('## Transform'),
      code('lst.append(3)\ndoubled = [x * 2 for x in data]'),
      markdown('## Report'),
      code(
        'total = sum(doubled) + sum(lst)\nmean = statistics.mean(doubled)\nprint("total", total, "mean", mean)'
      )
    ],
    { language_info: { name: 'python' } }
  );
}

const STEPS = ['load-data', 'transform', 'report'];

/**
 * Open a notebook without starting a kernel in the browser (runs and
 * verifications start their own on the server): nothing changes the document
 * behind the test's back, and the machine has one kernel less to start.
 */
async function openWithoutKernel(page: Page, file: string) {
  // Once the layout is restored (a restore would close what opened before).
  await page.evaluate(async path => {
    const app = (window as any).jupyterapp;
    await app.restored;
    await app.commands.execute('docmanager:open', {
      path,
      factory: 'Notebook',
      kernelPreference: { shouldStart: false, shouldReuse: false }
    });
  }, file);
  const name = path.basename(file);
  await expect(
    page.getByRole('main').getByRole('tab', { name: new RegExp(`^${name}`) })
  ).toBeVisible({ timeout: 30_000 });
  await page.notebook.activate(name);
}

/** Every cell's tags in the open notebook (`null`: no tags key), unsaved edits included. */
async function editorTags(page: Page): Promise<(string[] | null)[]> {
  return page.evaluate(() => {
    const widget = (window as any).jupyterapp.shell.currentWidget;
    return widget.content.model
      .toJSON()
      .cells.map((c: any) => c.metadata?.tags ?? null);
  });
}

async function isDirty(page: Page): Promise<boolean> {
  return page.evaluate(
    () => (window as any).jupyterapp.shell.currentWidget.context.model.dirty
  );
}

async function savedTags(page: Page, file: string): Promise<string[][]> {
  const response = await page.request.get(`/api/contents/${file}?content=1`);
  const { content } = await response.json();
  return content.cells.map((c: any) => c.metadata.tags ?? []);
}

/** Propose steps; the proposal shows the expected DAG and steps. */
async function propose(panel: Locator): Promise<Locator> {
  await panel.locator('.jp-mlops-propose-button').click();
  const proposal = panel.locator('.jp-mlops-proposal');
  await expect(proposal).toBeVisible();
  await expect(proposal.locator('.jp-mlops-dag-node')).toHaveCount(
    STEPS.length
  );
  for (const name of STEPS) {
    await expect(
      proposal.locator(`.jp-mlops-dag-node[data-step="${name}"]`)
    ).toBeVisible();
  }
  return proposal;
}

async function shoot(target: Locator | Page, name: string) {
  if (SCREENSHOTS) {
    await target.screenshot({ path: path.join(IMAGES, name) });
  }
}

test.describe('Propose steps and Verify (real server)', () => {
  test.beforeEach(async ({ page }) => {
    // The file browser may open the test folder before the upload creates it.
    const notFound = page.locator('.jp-Dialog', {
      hasText: 'Directory not found'
    });
    await page.addLocatorHandler(notFound, async dialog => {
      await dialog.locator('.jp-Dialog-button').first().click();
    });
  });

  test('untagged notebook: propose, accept, undo, run, verify equal', async ({
    page,
    tmpPath
  }) => {
    await page.setViewportSize({ width: 1400, height: 1200 });
    const file = `${tmpPath}/sections.ipynb`;
    await page.contents.uploadContent(sectionsNotebook(), 'text', file);
    await openWithoutKernel(page, file);
    // Saved as JupyterLab writes it (cell ids): not dirty before the proposal.
    await page.notebook.save();
    const panel = await openPanel(page);
    await expect(panel.locator('.jp-mlops-pipeline-notebook')).toHaveText(file);
    expect(await isDirty(page)).toBe(false);

    // No step tags: one `main` step, and the offer to propose steps.
    await expect(
      panel.locator('.jp-mlops-step[data-step="main"]')
    ).toBeVisible();
    const original = await editorTags(page);
    expect(original).toEqual([
      ['intro'],
      null,
      ['parameters'],
      null,
      null,
      null,
      null,
      null,
      null
    ]);

    // Propose by H2 sections: the proposed DAG, its steps, nothing written yet.
    await panel
      .locator('.jp-mlops-propose-by-select select')
      .selectOption('h2');
    const proposal = await propose(panel);
    await expect(proposal.locator('.jp-mlops-proposal-message')).toContainText(
      'H2'
    );
    await expect(
      proposal.locator(
        '.jp-mlops-dag-edge[data-from="load-data"][data-to="transform"]'
      )
    ).toContainText('lst');
    await expect(
      proposal.locator(
        '.jp-mlops-dag-edge[data-from="transform"][data-to="report"]'
      )
    ).toContainText('doubled');
    await expect(proposal.locator('.jp-mlops-proposal-step')).toHaveText([
      /^load-data.*Load data.*1 cell/,
      /^transform.*Transform.*1 cell/,
      /^report.*Report.*1 cell/
    ]);
    // The compiled pipeline of the notebook is not drawn meanwhile.
    await expect(panel.locator('.jp-mlops-dag')).toHaveCount(1);
    expect(await editorTags(page)).toEqual(original);
    expect(await isDirty(page)).toBe(false);
    await shoot(panel, 'panel-propose.png');

    // Cancel: nothing changes; propose again.
    await proposal.locator('.jp-mlops-proposal-cancel').click();
    await expect(proposal).toHaveCount(0);
    expect(await editorTags(page)).toEqual(original);

    // Accept: the tags are in the open notebook (unsaved), the pipeline follows.
    await (await propose(panel)).locator('.jp-mlops-proposal-accept').click();
    await expect(panel.locator('.jp-mlops-proposal')).toHaveCount(0);
    const accepted = await editorTags(page);
    expect(accepted[0]).toEqual(['intro']);
    expect(accepted[1]).toContain('setup');
    expect(accepted[2]).toEqual(['parameters']);
    expect(accepted[4]).toContain('step:load-data');
    expect(accepted[6]).toContain('step:transform');
    expect(accepted[8]).toContain('step:report');
    expect(await isDirty(page)).toBe(true);
    for (const name of STEPS) {
      await expect(
        panel.locator(`.jp-mlops-step[data-step="${name}"]`)
      ).toBeVisible();
    }
    await expect(panel.locator('.jp-mlops-propose-button')).toHaveCount(0);
    await expect(panel.locator('.jp-mlops-proposal-applied')).toBeInViewport({
      ratio: 1
    });

    // Undo: every cell's tags exactly as before; the offer is back.
    await panel.locator('.jp-mlops-proposal-undo').click();
    await expect.poll(() => editorTags(page)).toEqual(original);
    await expect(
      panel.locator('.jp-mlops-step[data-step="main"]')
    ).toBeVisible();
    await expect(panel.locator('.jp-mlops-proposal-undo')).toHaveCount(0);

    // Accept again, save: the saved notebook carries the tags.
    await (await propose(panel)).locator('.jp-mlops-proposal-accept').click();
    await expect.poll(() => editorTags(page)).toEqual(accepted);
    await page.notebook.save();
    expect(await savedTags(page, file)).toEqual(
      accepted.map(tags => tags ?? [])
    );

    // Run (the existing Run button) succeeds, every proposed step ran.
    const runStatus = panel.locator('.jp-mlops-run-status');
    await panel.locator('.jp-mlops-run-button').click();
    await expect(runStatus).toHaveAttribute('data-status', 'succeeded', {
      timeout: RUN_TIMEOUT
    });
    for (const name of STEPS) {
      await expect(
        panel.locator(`.jp-mlops-step[data-step="${name}"]`)
      ).toHaveAttribute('data-status', 'succeeded');
    }

    // Verify: busy, then "equal" with the summary, in view.
    const verify = panel.locator('.jp-mlops-verify-button');
    await verify.click();
    await expect(verify).toBeDisabled();
    const result = panel.locator('.jp-mlops-verify-result');
    await expect(result).toHaveAttribute('data-equal', 'true', {
      timeout: RUN_TIMEOUT
    });
    await expect(result).toContainText('equal');
    await expect(result).toBeInViewport();
    await expect(verify).toBeEnabled();
    await shoot(panel, 'panel-verify.png');
  });

  test('a difference is shown with its variable, step and cause', async ({
    page,
    tmpPath
  }) => {
    // Unseeded randomness: the notebook and the pipeline draw different values.
    const file = `${tmpPath}/random.ipynb`;
    await page.contents.uploadContent(
      notebook(
        [
          code('import random', 'setup'),
          code('value = random.random()', 'step:draw'),
          code('doubled = value * 2', 'step:double')
        ],
        { language_info: { name: 'python' } }
      ),
      'text',
      file
    );
    await openWithoutKernel(page, file);
    const panel = await openPanel(page);
    await expect(panel.locator('.jp-mlops-pipeline-notebook')).toHaveText(file);
    // Tagged: no offer to propose steps.
    await expect(
      panel.locator('.jp-mlops-step[data-step="draw"]')
    ).toBeVisible();
    await expect(panel.locator('.jp-mlops-propose-button')).toHaveCount(0);

    await panel.locator('.jp-mlops-verify-button').click();
    const result = panel.locator('.jp-mlops-verify-result');
    await expect(result).toHaveAttribute('data-equal', 'false', {
      timeout: RUN_TIMEOUT
    });
    await expect(result).toHaveClass(/jp-mlops-error/);
    await expect(result.locator('.jp-mlops-verify-variable')).toHaveText(
      'value'
    );
    await expect(result.locator('.jp-mlops-verify-step')).toHaveText('draw');
    await expect(result.locator('.jp-mlops-verify-cause')).toContainText(
      /random/i
    );
    await expect(result).toBeInViewport();
  });
});
