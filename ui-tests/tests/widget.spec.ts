/**
 * The ipywidgets front end (issue 14): `PipelineWidget("train.ipynb")` executed in a
 * notebook, rendered by JupyterLab's ipywidgets manager (jupyterlab_widgets), driven by
 * clicks: set a parameter, Run (live step states from the run's events while the kernel
 * keeps executing cells), then Publish. Real kernel, real run process, real MLflow.
 */
import { expect, test } from '@jupyterlab/galata';
import * as path from 'path';

import { code, notebook } from './notebooks';

const SCREENSHOTS = process.env.MLOPS_SCREENSHOTS === '1';
const IMAGES = path.resolve(__dirname, '..', '..', 'docs', 'images');
const RUN_TIMEOUT = 120_000;

test.setTimeout(300_000);
test.use({ autoGoto: true });

/**
 * load -> train (sleeps, so it is `running` for a while) -> evaluate, with saved publish
 * settings (alias and a gate) and a model whose class is defined in the notebook.
 */
function trainNotebook(): string {
  return notebook(
    [
      code('# Pipeline of the widget demo'),
      code('scale = 2.0\nrounds = 3', 'parameters'),
      code('score', 'metrics'),
      code('data = [i * scale for i in range(10)]', 'step:load'),
      code(
        [
          'import time',
          "print('training', flush=True)",
          'time.sleep(10)',
          'class Model:',
          '    def predict(self, X):',
          '        return [sum(row) * scale for row in X]',
          'model = Model()',
          'X = [[1.0, 2.0], [3.0, 4.0]]',
          "print('trained on', len(data), 'rows')"
        ].join('\n'),
        'step:train',
        'model:model',
        'example:X'
      ),
      code('score = model.predict(X)[0] + rounds + len(data)', 'step:evaluate')
    ],
    {
      mlops: {
        publish: {
          name: 'demo',
          aliases: ['champion'],
          require: ['score>=10']
        }
      }
    }
  );
}

test('PipelineWidget: parameters, live run, publish', async ({
  page,
  tmpPath
}) => {
  if (SCREENSHOTS) {
    await page.setViewportSize({ width: 1100, height: 1200 });
  }
  await page.contents.uploadContent(
    trainNotebook(),
    'text',
    `${tmpPath}/train.ipynb`
  );
  await page.contents.uploadContent(
    notebook([
      code(
        'from jupyter_mlops.widgets import PipelineWidget\n' +
          'PipelineWidget("train.ipynb")'
      ),
      code('print("the kernel is free:", 6 * 7)')
    ]),
    'text',
    `${tmpPath}/widget.ipynb`
  );
  expect(await page.notebook.openByPath(`${tmpPath}/widget.ipynb`)).toBe(true);
  await page.notebook.activate('widget.ipynb');
  await page.notebook.runCell(0);

  const widget = page.locator('.mlops-widget');
  await expect(widget).toBeVisible({ timeout: 60_000 });
  await expect(widget.locator('.mlops-step')).toHaveCount(3);
  await expect(widget.locator('.mlops-step-evaluate')).toContainText(
    'load (data), train (X, model)'
  );
  await expect(widget).toContainText('Publish as demo');

  // A parameter through the form (a FloatText).
  const scale = widget
    .locator('.mlops-parameters .widget-inline-hbox', { hasText: 'scale' })
    .locator('input');
  await scale.fill('3');
  await scale.press('Enter');

  const status = (step: string) =>
    widget.locator(`.mlops-step-${step} .mlops-step-status`);
  const runStatus = widget.locator('.mlops-run-status');
  await widget.locator('button.mlops-run-button').click();
  await expect(status('train')).toHaveText('running', { timeout: RUN_TIMEOUT });

  // The kernel is not blocked: another cell runs while the step is still running.
  await page.notebook.runCell(1);
  expect(await page.notebook.getCellTextOutput(1)).toEqual([
    'the kernel is free: 42\n'
  ]);
  await expect(status('train')).toHaveText('running');
  await expect(widget.locator('.mlops-output')).toContainText('training');

  await expect(runStatus).toHaveText('succeeded', { timeout: RUN_TIMEOUT });
  for (const step of ['load', 'train', 'evaluate']) {
    await expect(status(step)).toHaveText('succeeded');
  }
  // score = predict([1, 2]) + rounds + len(data) = 3 * 3 + 3 + 10
  await expect(widget.locator('.mlops-metrics')).toContainText('score22');

  const publish = widget.locator('button.mlops-publish-button');
  await expect(publish).toBeEnabled({ timeout: 30_000 });
  await publish.click();
  const result = widget.locator('.mlops-publish-result');
  await expect(result).toContainText('published demo version 1', {
    timeout: RUN_TIMEOUT
  });
  await expect(result).toContainText('@champion');
  await expect(result).toContainText('require score>=10');

  if (SCREENSHOTS) {
    await widget.screenshot({ path: path.join(IMAGES, 'widget.png') });
  }
});
