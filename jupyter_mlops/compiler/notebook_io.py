"""Load a notebook as plain JSON (no nbformat import) and check its shape."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput, NotFound


@dataclass
class Cell:
    """One notebook cell, reduced to what the compiler needs."""

    index: int
    cell_type: str
    source: str
    tags: list[str] = field(default_factory=list)


def _join(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    raise ValueError("source is neither a string nor a list of strings")


def notebook_name(path: str | None) -> str:
    """The name used in messages: the file's base name, or ``<notebook>``."""
    return os.path.basename(path) if path else "<notebook>"


def load_notebook(source: str | os.PathLike | Mapping) -> tuple[Mapping, str | None]:
    """Return ``(notebook, path)`` from a path, a dict or an ``nbformat.NotebookNode``."""
    if isinstance(source, Mapping):
        return source, None
    path = os.fspath(source)
    name = notebook_name(path)
    if not os.path.exists(path):
        raise NotFound(f"{path}: no such file")
    if os.path.isdir(path):
        raise InvalidInput(f"{path}: is a directory, not a notebook")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        nb = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: not a notebook (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{name}: not a notebook (invalid JSON at line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})"
        ) from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror or exc}") from None
    return nb, path


def read_cells(nb: Any, name: str) -> list[Cell]:
    """Validate the notebook's structure (nbformat >= 4) and return its cells."""
    if not isinstance(nb, Mapping) or not isinstance(nb.get("cells"), list):
        if isinstance(nb, Mapping) and "worksheets" in nb:
            raise InvalidInput(
                f"{name}: notebook format 3 is not supported (need nbformat 4 or later; "
                "open and save it in JupyterLab to upgrade)"
            )
        raise InvalidInput(f"{name}: not a Jupyter notebook (no 'cells' list)")
    major = nb.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool):
        raise InvalidInput(f"{name}: not a Jupyter notebook (no integer 'nbformat' field)")
    if major < 4:
        raise InvalidInput(
            f"{name}: notebook format {major} is not supported (need nbformat 4 or later; "
            "open and save it in JupyterLab to upgrade)"
        )
    cells: list[Cell] = []
    for index, raw in enumerate(nb["cells"]):
        where = f"{name}: cell {index + 1}"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("cell_type"), str):
            raise InvalidInput(f"{where}: not a notebook cell (no 'cell_type')")
        try:
            text = _join(raw.get("source", ""))
        except ValueError as exc:
            raise InvalidInput(f"{where}: {exc}") from None
        meta = raw.get("metadata") or {}
        tags = meta.get("tags", []) if isinstance(meta, Mapping) else []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput(f"{where}: metadata.tags must be a list of strings")
        cells.append(Cell(index, raw["cell_type"], text, [t.strip() for t in tags if t.strip()]))
    return cells


def kernel_name(nb: Mapping) -> str:
    """The kernelspec name, ``python3`` when absent."""
    meta = nb.get("metadata") or {}
    spec = meta.get("kernelspec") if isinstance(meta, Mapping) else None
    name = spec.get("name") if isinstance(spec, Mapping) else None
    return name if isinstance(name, str) and name else "python3"


def kernel_language(nb: Mapping) -> str:
    """The notebook's language (kernelspec, then language_info), ``python`` when absent."""
    meta = nb.get("metadata") or {}
    if not isinstance(meta, Mapping):
        return "python"
    for key in ("kernelspec", "language_info"):
        section = meta.get(key)
        field = "language" if key == "kernelspec" else "name"
        value = section.get(field) if isinstance(section, Mapping) else None
        if isinstance(value, str) and value:
            return value.lower()
    return "python"
