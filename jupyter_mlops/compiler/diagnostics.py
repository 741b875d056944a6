"""Compile errors and warnings with one-line, located messages.

Cell numbers in messages are **1-based** (``cell 1`` is the notebook's first cell,
counting markdown and raw cells), as a JupyterLab user counts them; line numbers
are 1-based within the cell's source. Indices in :meth:`Pipeline.to_dict` (``cells``)
and in Python attributes are **0-based**, like the JSON ``cells`` field.
"""

from __future__ import annotations

from ..errors import InvalidInput

MAX_ERRORS = 20


class CompileError(InvalidInput):
    """The notebook does not compile; ``messages`` holds one line per problem, ``items``
    the same problems located (see :meth:`Diagnostics.item`), ``warning_items`` the
    warnings found on the way."""

    def __init__(
        self,
        *messages: str,
        items: list[dict] | None = None,
        warning_items: list[dict] | None = None,
    ) -> None:
        super().__init__(*messages)
        self.items = items if items is not None else [item(m) for m in self.messages]
        self.warning_items = warning_items or []


def item(
    text: str,
    cell: int | None = None,
    label: str | None = None,
    line: int | None = None,
    variable: str | None = None,
) -> dict:
    """A located problem as data: ``{"cell": 0-based index | None, "step": name | None,
    "variable": name | None, "line": 1-based | None, "message": the one-line text}``."""
    step = label[6:-1] if label and label.startswith("step '") and label.endswith("'") else None
    return {"cell": cell, "step": step, "variable": variable, "line": line, "message": text}


class Diagnostics:
    """Collects errors and warnings, formatting their location consistently."""

    def __init__(self, notebook_name: str) -> None:
        self.name = notebook_name
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.error_items: list[dict] = []
        self.warning_items: list[dict] = []

    def where(
        self, cell: int | None = None, label: str | None = None, line: int | None = None
    ) -> str:
        """``nb: cell N (label), line L`` for 0-based *cell* (shown 1-based)."""
        text = self.name
        if cell is not None:
            text += f": cell {cell + 1}"
            if label:
                text += f" ({label})"
            if line is not None:
                text += f", line {line}"
        return text

    def error(
        self,
        message: str,
        cell: int | None = None,
        label: str | None = None,
        line: int | None = None,
        variable: str | None = None,
    ) -> None:
        """Record a compile error (``variable``: the name it is about, if any)."""
        text = f"{self.where(cell, label, line)}: {message}"
        self.errors.append(text)
        self.error_items.append(item(text, cell, label, line, variable))

    def warn(
        self,
        message: str,
        cell: int | None = None,
        label: str | None = None,
        line: int | None = None,
        variable: str | None = None,
    ) -> None:
        """Record a warning (shown, but compiling goes on)."""
        text = f"{self.where(cell, label, line)}: {message}"
        if text not in self.warnings:
            self.warnings.append(text)
            self.warning_items.append(item(text, cell, label, line, variable))

    def raise_if_errors(self) -> None:
        """Raise :class:`CompileError` with up to :data:`MAX_ERRORS` messages."""
        if not self.errors:
            return
        shown = self.errors[:MAX_ERRORS]
        if len(self.errors) > MAX_ERRORS:
            shown.append(f"{self.name}: ... and {len(self.errors) - MAX_ERRORS} more errors")
        raise CompileError(
            *shown, items=self.error_items[:MAX_ERRORS], warning_items=self.warning_items
        )
