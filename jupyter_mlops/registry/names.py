"""Model and alias names: one rule, checked before anything is created.

A model name is 1 to 128 ASCII letters, digits, ``_`` and ``-``, starting with a letter or
digit. MLflow itself refuses ``/`` and ``:`` in registered model names and ``/ : . % " '``
in logged model names, but only after a run has been created; a stricter rule checked up
front also keeps ``models:/NAME/VERSION`` URIs and REST paths plain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import InvalidInput

MAX_NAME = 128
MAX_ALIAS = 255  # MLflow's MAX_REGISTERED_MODEL_ALIAS_LENGTH
_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_NAME - 1}}}$")
_ALIAS = re.compile(r"^[\w\-]+$")
NAME_RULE = (
    f"use 1 to {MAX_NAME} ASCII letters, digits, '_' and '-', starting with a letter or digit"
)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def validate_names(name: str, aliases: Iterable[str]) -> list[str]:
    """Check a model name and aliases; returns the aliases without duplicates."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"invalid model name {_shown(str(name))}: {NAME_RULE}")
    result = []
    for alias in aliases:
        if (
            not _ALIAS.match(alias or "")
            or len(alias) > MAX_ALIAS
            or alias.lower() == "latest"
            or re.match(r"^v\d+$", alias, re.I)
        ):
            raise InvalidInput(
                f"invalid alias {_shown(str(alias))}: use up to {MAX_ALIAS} letters, digits, _ "
                "and -; 'latest' and 'v<number>' are reserved"
            )
        if alias not in result:
            result.append(alias)
    return result


def default_model_name(notebook: str | None) -> str:
    """A valid model name from a notebook's file name (``My model (v2).ipynb`` →
    ``My-model-v2``); ``model`` when nothing usable is left."""
    stem = Path(notebook or "").stem
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:MAX_NAME].rstrip("-_")
    return name or "model"
