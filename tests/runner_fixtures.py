"""Helpers for runner tests: build tagged notebooks with nbformat, run the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]


def code(source: str, *tags: str):
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def markdown(source: str):
    return nbformat.v4.new_markdown_cell(source)


def write_notebook(path: Path, cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = list(cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def mlops(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``jupyter mlops ARGS`` (as ``python -m jupyter_mlops.cli.app``) and capture it."""
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli.app", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_json(*args: str, cwd: Path | None = None) -> tuple[int, dict, str]:
    """``jupyter mlops run ... --json``: (exit code, record, stderr)."""
    proc = mlops("run", *args, "--json", cwd=cwd)
    record = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, record, proc.stderr


def statuses(record: dict) -> dict[str, str]:
    return {name: step["status"] for name, step in record["steps"].items()}
