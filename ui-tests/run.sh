#!/usr/bin/env bash
# Run the jupyter-mlops Galata UI tests with Debian's chromium (no Playwright browser download).
#
# Assumes the Python environment with jupyter-mlops installed is active (or on PATH);
# MLOPS_PYTHON_BIN=/path/to/venv/bin is prepended to PATH if set.
# CHROMIUM_PATH=/path/to/chromium overrides /usr/bin/chromium.
# Extra arguments are passed to `playwright test` (e.g. -g 'version').
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

if [[ -n "${MLOPS_PYTHON_BIN:-}" ]]; then
  export PATH="$MLOPS_PYTHON_BIN:$PATH"
fi

if ! command -v jlpm >/dev/null 2>&1; then
  echo "error: jlpm not found: activate the venv with jupyterlab/jupyter-builder or set MLOPS_PYTHON_BIN=/path/to/venv/bin" >&2
  exit 1
fi
if ! command -v jupyter >/dev/null 2>&1; then
  echo "error: jupyter not found: activate the venv with jupyter-mlops installed or set MLOPS_PYTHON_BIN" >&2
  exit 1
fi

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(unset CI; jlpm install)

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  if [[ -z "${CHROMIUM_PATH:-}" && "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium..."
    apt-get update && apt-get install -y chromium
  fi
  if [[ ! -x "$chromium" ]]; then
    echo "error: no Chromium found: install Debian's chromium or set CHROMIUM_PATH=/path/to/chromium" >&2
    exit 1
  fi
fi
export CHROMIUM_PATH="$chromium"

CI=1 jlpm playwright test "$@"
