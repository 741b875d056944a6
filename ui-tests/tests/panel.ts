/**
 * Helpers the panel specs share: open the MLOps side panel, run from it.
 */
import { expect } from '@jupyterlab/galata';
import { Locator, Page } from '@playwright/test';

export const PANEL_ID = 'jupyter-mlops:panel';
export const RUN_TIMEOUT = 90_000;

/** Open the MLOps panel by clicking its tab (if it is not open yet). */
export async function openPanel(page: Page): Promise<Locator> {
  const tab = page.locator(
    `.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="${PANEL_ID}"]`
  );
  await expect(tab).toBeVisible();
  if (!(await tab.getAttribute('class'))?.includes('lm-mod-current')) {
    await tab.click();
  }
  const panel = page.locator(`[id="${PANEL_ID}"]`);
  await expect(panel).toBeVisible();
  return panel;
}

/** Start a run from the panel; wait until it ends with `status`; its id. */
export async function runAndWait(
  panel: Locator,
  status = 'succeeded'
): Promise<string> {
  const runStatus = panel.locator('.jp-mlops-run-status');
  const before = (await runStatus.count())
    ? await runStatus.getAttribute('data-run')
    : null;
  await panel.locator('.jp-mlops-run-button').click();
  await expect(runStatus).toHaveAttribute('data-run', /.+/);
  if (before) {
    await expect(runStatus).not.toHaveAttribute('data-run', before);
  }
  await expect(runStatus).toHaveAttribute('data-status', status, {
    timeout: RUN_TIMEOUT
  });
  return (await runStatus.getAttribute('data-run'))!;
}
