/**
 * The panel's Schedules section against the real server: create a schedule
 * from the notebook in focus (a custom every-2-seconds cron, previewed by the
 * server's cron library), see it fire (a real background run) and its outcome
 * appear, then remove it. No mocks.
 */
import { expect, test } from '@jupyterlab/galata';

import { code, notebook } from './notebooks';

import { PANEL_ID } from './panel';

test.setTimeout(300_000);
test.use({ autoGoto: true });

test('create a schedule from the panel, see it fire and its outcome', async ({
  page,
  tmpPath
}) => {
  const name = 'scheduled.ipynb';
  const file = `${tmpPath}/${name}`;
  await page.contents.uploadContent(
    notebook([code('n = 1', 'parameters'), code('x = n + 1', 'step:one')]),
    'text',
    file
  );
  expect(await page.notebook.openByPath(file)).toBe(true);
  await page.notebook.activate(name);
  const tab = page.locator(
    `.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="${PANEL_ID}"]`
  );
  if (!(await tab.getAttribute('class'))?.includes('lm-mod-current')) {
    await tab.click();
  }
  const panel = page.locator(`[id="${PANEL_ID}"]`);
  await expect(panel).toBeVisible();

  const title = panel.locator('.jp-AccordionPanel-title', {
    hasText: 'Schedules'
  });
  if ((await title.getAttribute('aria-expanded')) !== 'true') {
    await title.click();
  }
  const section = panel.locator('.jp-mlops-schedules');
  await section.locator('.jp-mlops-schedule-preset').selectOption('custom');
  await section.locator('.jp-mlops-schedule-cron').fill('* * * * * */2');
  await section.locator('.jp-mlops-schedule-timezone').fill('UTC');
  // The preview: the next 3 firings, 2 s apart, computed by the server.
  await expect(section.locator('.jp-mlops-schedule-preview li')).toHaveCount(3);

  await section.locator('.jp-mlops-schedule-create').click();
  const row = section.locator('.jp-mlops-schedule');
  await expect(row).toHaveCount(1);
  await expect(row.locator('code')).toHaveText('* * * * * */2');
  // It fires in the server; the outcome of its run appears.
  await expect(row.locator('.jp-mlops-schedule-outcome')).toContainText(
    'succeeded',
    { timeout: 180_000 }
  );
  await row.getByRole('button', { name: 'Pause' }).click();
  await expect(row).toContainText('(paused)');
  await row.getByRole('button', { name: 'Remove' }).click();
  await expect(row).toHaveCount(0);
});
