import { expect, test } from '@jupyterlab/galata';
import { Page } from '@playwright/test';
import * as path from 'path';

import { PANEL_ID, openPanel } from './panel';

/** The example notebook of the repository, compiled by the real server. */
const EXAMPLE = path.resolve(
  __dirname,
  '..',
  '..',
  'examples',
  'wine_classifier.ipynb'
);

/**
 * Match an MLOps REST endpoint, whatever its query string (JupyterLab adds a
 * cache buster to GET requests).
 */
function endpoint(name: string) {
  return (url: URL) => url.pathname.endsWith(`/mlops/api/${name}`);
}

/** The left-sidebar tab of the MLOps panel. */
function panelTab(page: Page) {
  return page.locator(
    `.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="${PANEL_ID}"]`
  );
}

test.describe('MLOps side panel', () => {
  test('shows the version reported by the server extension', async ({
    page
  }) => {
    const panel = await openPanel(page);
    await expect(panel.locator('h2')).toHaveText('MLOps');

    // The panel shows a version once the server has answered...
    const version = panel.locator('.jp-mlops-version');
    await expect(version).toHaveText(/^jupyter-mlops \d+\.\d+\.\d+/);

    // ...and it is the version the server reports (auth disabled by Galata).
    const response = await page.request.get('/mlops/api/info');
    expect(response.status(), 'GET /mlops/api/info').toBe(200);
    const info = await response.json();
    await expect(version).toHaveText(`jupyter-mlops ${info.version}`);
    await expect(panel.locator('.jp-mlops-info-details')).toContainText(
      info.store
    );
    await expect(panel.locator('.jp-mlops-info-error')).toBeHidden();
  });

  test('shows the server message when the info call fails', async ({
    page
  }) => {
    await page.route(endpoint('info'), route =>
      route.fulfill({
        status: 500,
        contentType: 'application/json',
        body: JSON.stringify({ message: 'store is not writable' })
      })
    );
    const panel = await openPanel(page);
    await panel.locator('.jp-mlops-refresh').click();

    const error = panel.locator('.jp-mlops-info-error');
    await expect(error).toBeVisible();
    await expect(error).toContainText('store is not writable');
    await expect(panel.locator('.jp-mlops-version')).toHaveText(
      'jupyter-mlops (server unavailable)'
    );
  });

  test('shows the steps of the notebook in focus', async ({
    page,
    tmpPath
  }) => {
    // The compiler is exercised by the Python tests: answer for it here, so
    // that this test checks the panel only.
    const calls: string[] = [];
    let failure: string | null = null;
    await page.route(endpoint('pipeline'), route => {
      const request = route.request();
      // GET ?path= (saved file) or POST {path, content} (as in the editor).
      const path =
        request.method() === 'POST'
          ? request.postDataJSON().path
          : new URL(request.url()).searchParams.get('path')!;
      calls.push(path);
      if (failure) {
        return route.fulfill({
          status: 400,
          contentType: 'application/json',
          body: JSON.stringify({ message: failure })
        });
      }
      return route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({
          pipeline: {
            notebook: path,
            kernel: 'python3',
            parameters: { alpha: { default: 0.5, type: 'float' } },
            steps: [
              {
                name: 'load',
                cells: [0, 1],
                upstream: [],
                inputs: {},
                outputs: ['df'],
                cache: true
              },
              {
                name: 'train',
                cells: [2],
                upstream: ['load'],
                inputs: { df: 'load' },
                outputs: ['model'],
                cache: true
              }
            ],
            metrics: [],
            model: null,
            example: null,
            warnings: ['cell 3 has no tag']
          },
          errors: [],
          warnings: [
            {
              cell: 3,
              step: null,
              variable: null,
              message: 'cell 3 has no tag'
            }
          ],
          parameters_schema: {
            type: 'object',
            properties: {
              alpha: { type: 'number', default: 0.5, title: 'alpha' }
            }
          },
          publish_defaults: null
        })
      });
    });

    const panel = await openPanel(page);
    await expect(panel.locator('.jp-mlops-pipeline-status')).toHaveText(
      'Open a notebook to see its pipeline.'
    );

    await page.notebook.createNew('flow.ipynb');
    const expected = `${tmpPath}/flow.ipynb`;
    await expect(panel.locator('.jp-mlops-pipeline-notebook')).toHaveText(
      expected
    );
    await expect(panel.locator('.jp-mlops-step')).toHaveCount(2);
    await expect(panel.locator('.jp-mlops-step').nth(1)).toContainText(
      'after load'
    );
    await expect(panel.locator('.jp-mlops-pipeline-status')).toContainText(
      'parameters: alpha'
    );
    await expect(panel.locator('.jp-mlops-warnings')).toContainText(
      'cell 3 has no tag'
    );
    expect(calls).toContain(expected);

    // Saving compiles again; a failed compile shows the server's message.
    failure = 'step "train" reads "df" before any step writes it';
    expect(await page.notebook.save()).toBe(true);
    await expect(panel.locator('.jp-mlops-pipeline-error')).toHaveText(failure);
    await expect(panel.locator('.jp-mlops-step')).toHaveCount(0);
  });

  test('shows the steps the server compiles from a real notebook', async ({
    page,
    tmpPath
  }) => {
    const notebook = `${tmpPath}/wine.ipynb`;
    await page.contents.uploadFile(EXAMPLE, notebook);

    // What the server's compiler says about it.
    const response = await page.request.get(
      `/mlops/api/pipeline?path=${encodeURIComponent(notebook)}`
    );
    expect(response.status(), await response.text()).toBe(200);
    // `{"pipeline", "errors", ...}` (older servers: the pipeline itself).
    const answer = await response.json();
    const pipeline = 'pipeline' in answer ? answer.pipeline : answer;
    const names: string[] = pipeline.steps.map((s: any) => s.name);
    expect(names.length).toBeGreaterThan(0);

    // Open it first (the file browser is in the left sidebar): the panel,
    // hidden meanwhile, compiles when it is shown.
    expect(await page.notebook.openByPath(notebook)).toBe(true);
    const panel = await openPanel(page);
    await expect(panel.locator('.jp-mlops-pipeline-notebook')).toHaveText(
      notebook
    );
    await expect(panel.locator('.jp-mlops-step-name')).toHaveText(names);
    if (pipeline.model?.variable) {
      await expect(panel.locator('.jp-mlops-pipeline-status')).toContainText(
        `model: ${pipeline.model.variable}`
      );
    }
    await expect(panel.locator('.jp-mlops-pipeline-error')).toBeHidden();
  });
});
