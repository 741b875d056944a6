/**
 * The Run section says where a run executes (issue 18), against the real
 * server: its runs are local by default, and it offers a Dask cluster per run
 * at an address where nothing listens (jupyter_server_test_config.py), so a
 * run sent there fails with the run-level error. No mocks.
 */
import { expect, test } from '@jupyterlab/galata';

import { code, notebook } from './notebooks';
import { openPanel, runAndWait } from './panel';

test.setTimeout(240_000);
test.use({ autoGoto: true });

test.describe('Where a run executes', () => {
  test('the Run section shows the executor and offers the configured cluster', async ({
    page,
    tmpPath
  }) => {
    const response = await page.request.get('/mlops/api/info');
    expect(response.status()).toBe(200);
    const info = await response.json();
    expect(info.executor.name).toBe('local');
    expect(info.cluster?.name).toBe('dask');
    const scheduler: string = info.cluster.scheduler;
    expect(scheduler).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);

    const name = 'executor.ipynb';
    const file = `${tmpPath}/${name}`;
    await page.contents.uploadContent(
      notebook([
        code('x = 20', 'step:first'),
        code('y = x + 1', 'step:second')
      ]),
      'text',
      file
    );
    expect(await page.notebook.openByPath(file)).toBe(true);
    await page.notebook.activate(name);
    const panel = await openPanel(page);
    await expect(panel.locator('.jp-mlops-pipeline-notebook')).toHaveText(file);

    // By default: this machine (the server's executor).
    const line = panel.locator('.jp-mlops-run-executor');
    const text = line.locator('.jp-mlops-run-executor-text');
    const choice = line.locator('.jp-mlops-run-executor-choice');
    await expect(line).toHaveAttribute('data-executor', 'local');
    await expect(text).toHaveText('Runs on this machine');
    await expect(choice).toHaveValue('local');

    // The configured cluster: its address and the artifact store, no secrets.
    await choice.selectOption('dask');
    await expect(line).toHaveAttribute('data-executor', 'dask');
    await expect(text).toHaveText(
      `Runs on Dask at ${scheduler} · artifacts ${info.cluster.artifacts}`
    );

    // Nothing listens there: the run fails at once, saying where and what to do.
    await runAndWait(panel, 'failed');
    const failure = panel.locator('.jp-mlops-run-failure');
    await expect(failure).toContainText(
      `cannot reach the Dask scheduler at ${scheduler}`
    );
    await expect(failure).toContainText('start it (`dask scheduler`)');
    await expect(failure).not.toContainText('Traceback');

    // Back to this machine: the same notebook runs.
    await choice.selectOption('local');
    await expect(text).toHaveText('Runs on this machine');
    await runAndWait(panel, 'succeeded');
    await expect(panel.locator('.jp-mlops-run-failure')).toBeHidden();
  });
});
