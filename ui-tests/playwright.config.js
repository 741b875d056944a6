/**
 * Playwright configuration for the jupyter-mlops UI tests (Galata).
 *
 * Browsers are not downloaded: Debian's chromium (or $CHROMIUM_PATH) is used.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.MLOPS_UI_PORT || '8888';
const baseURL = `http://127.0.0.1:${port}`;

module.exports = {
  ...baseConfig,
  reporter: [['list'], ['html', { open: 'never' }]],
  retries: process.env.CI ? 1 : 0,
  use: {
    ...baseConfig.use,
    baseURL,
    video: 'off',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--disable-dev-shm-usage']
    }
  },
  webServer: {
    command: 'jupyter lab --config jupyter_server_test_config.py',
    url: `${baseURL}/lab`,
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI
  }
};
