"""Split and verify operations of :class:`~jupyter_mlops.service.MlopsService` ([V]).

``split``: proposed tags from a notebook's headings (pure, never writes unless asked);
``verify``: the notebook top to bottom vs its pipeline with isolated steps.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InvalidInput


class VerifyOperations:
    """Mixin: uses ``self.notebook_path(path)`` and ``self.for_notebook``."""

    notebook_path: Callable[..., Path]

    def split(self, path: str, by: str = "auto", content: Any = None) -> dict[str, Any]:
        """The proposed split of a notebook (``content``: as in the editor, unsaved), as the
        V contract's JSON object. Never writes anything."""
        from .compiler.split import propose_split

        file = self.notebook_path(path, must_exist=content is None)
        source: Any = content if content is not None else str(file)
        return propose_split(source, by=by, path=str(file)).to_dict()

    def split_write(self, path: str, by: str = "auto") -> dict[str, Any]:
        """Propose a split and write the proposed ``metadata.tags`` into the notebook (only
        those; atomically). Returns the proposal with ``"written"``: the changed cells."""
        from .compiler.split import propose_split

        file = self.notebook_path(path)
        proposal = propose_split(str(file), by=by)
        write_tags(file, proposal.tags)
        return {**proposal.to_dict(), "written": proposal.changed}

    def verify(
        self,
        path: str,
        parameters: dict[str, Any] | None = None,
        *,
        parameter_texts: list[tuple[str, str]] | None = None,
        tolerance: float | None = None,
        jobs: int | None = None,
    ) -> dict[str, Any]:
        """Run the notebook top to bottom and its pipeline (isolated steps), compare every
        step's outputs and every metric; the V contract's JSON object."""
        from .runner.verify import verify_notebook

        if parameters is not None and not isinstance(parameters, dict):
            raise InvalidInput("'parameters' must be an object mapping parameter names to values")
        if tolerance is not None and (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, int | float)
            or not 0 <= tolerance < 1
        ):
            raise InvalidInput(f"tolerance must be a number from 0 to 1, got {tolerance!r}")
        notebook = self.notebook_path(path)
        return verify_notebook(
            notebook, parameters, parameter_texts=parameter_texts, tolerance=tolerance,
            jobs=jobs,
        )  # fmt: skip


def _style(text: str, data: Any) -> dict[str, Any] | None:
    """The ``json.dumps`` options that reproduce ``text`` exactly from ``data``, if any."""
    for indent in (1, 2, 4, None):
        for sort_keys in (True, False):
            for ensure_ascii in (False, True):
                options = {"indent": indent, "sort_keys": sort_keys, "ensure_ascii": ensure_ascii}
                dumped = json.dumps(data, **options)
                if text in (dumped, dumped + "\n"):
                    return {**options, "newline": text.endswith("\n")}
    return None


def write_tags(file: Path, tags: list[list[str]]) -> None:
    """Set every cell's ``metadata.tags`` (an empty list removes the key) and nothing else,
    keeping the file's JSON layout; written to a temporary file and renamed into place."""
    text = file.read_text(encoding="utf-8")
    nb = json.loads(text)
    style = _style(text, nb) or {"indent": 1, "sort_keys": False, "ensure_ascii": False,
                                 "newline": True}  # fmt: skip
    if len(nb["cells"]) != len(tags):
        raise InvalidInput(f"{file.name}: the notebook changed while it was being split")
    for cell, cell_tags in zip(nb["cells"], tags, strict=True):
        meta = cell.setdefault("metadata", {})
        if cell_tags:
            meta["tags"] = list(cell_tags)
        else:
            meta.pop("tags", None)
    newline = style.pop("newline")
    out = json.dumps(nb, **style) + ("\n" if newline else "")
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(out)
        os.chmod(tmp, file.stat().st_mode & 0o7777)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
