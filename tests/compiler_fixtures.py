"""Helpers for the compiler tests: build notebooks with nbformat, run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from jupyter_mlops.compiler import Pipeline, compile_notebook

REPO = Path(__file__).resolve().parents[1]


def code(source: str, *tags: str) -> nbformat.NotebookNode:
    """A code cell with the given tags."""
    cell = new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def md(source: str = "# notes") -> nbformat.NotebookNode:
    """A markdown cell."""
    return new_markdown_cell(source)


def raw(source: str = "raw") -> nbformat.NotebookNode:
    """A raw cell."""
    return new_raw_cell(source)


def notebook(*cells: nbformat.NotebookNode, kernel: str | None = None) -> nbformat.NotebookNode:
    """A v4 notebook holding *cells*."""
    nb = new_notebook(cells=list(cells))
    if kernel:
        nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    return nb


def compile_cells(*cells: nbformat.NotebookNode) -> Pipeline:
    """Compile an in-memory notebook made of *cells*."""
    return compile_notebook(notebook(*cells))


def write(tmp_path: Path, nb: nbformat.NotebookNode, name: str = "nb.ipynb") -> Path:
    """Write *nb* to ``tmp_path/name`` and return the path."""
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def edges(pipeline: Pipeline) -> dict[str, list[str]]:
    """``{step: upstream}``."""
    return {s.name: s.upstream for s in pipeline.steps}


def inputs(pipeline: Pipeline) -> dict[str, dict[str, str]]:
    """``{step: {variable: producing step}}``."""
    return {s.name: s.inputs for s in pipeline.steps}


def run_cli(*args: str | os.PathLike) -> subprocess.CompletedProcess:
    """Run ``python -m jupyter_mlops.cli.app compile ARGS`` with the repo importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli.app", "compile", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
