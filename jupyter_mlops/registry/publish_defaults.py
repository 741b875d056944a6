"""A notebook's saved publish settings, ``metadata.mlops.publish``: the defaults of a publish.

``{"name": str, "description": str, "aliases": [str], "require": ["METRIC>=X"],
"must_beat": "ALIAS:METRIC[:lower]" | null}``, every key optional. The panel saves them; the
CLI (``publish``, ``run --publish``), the REST API and the panel use them for every option
the user did not give, so all surfaces publish a notebook the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .gates import parse_must_beat, parse_require
from .names import default_model_name, validate_names

KEYS = ("name", "description", "aliases", "require", "must_beat")
WHERE = "metadata.mlops.publish"


def read_settings(nb: Any, notebook: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The valid settings of notebook ``nb`` (JSON) and one message per invalid key
    (``""`` for the whole section)."""
    shown = Path(notebook).name if notebook else "<notebook>"
    meta = nb.get("metadata") if isinstance(nb, Mapping) else None
    mlops = meta.get("mlops") if isinstance(meta, Mapping) else None
    section = mlops.get("publish") if isinstance(mlops, Mapping) else None
    if section is None:
        return {}, {}
    if not isinstance(section, Mapping):
        return {}, {"": f"{shown}: {WHERE} must be an object with keys {', '.join(KEYS)}"}
    settings: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, value in section.items():
        if key not in KEYS:
            problems[str(key)] = f"{shown}: {WHERE}: unknown key {key!r} (known: {', '.join(KEYS)})"
            continue
        try:
            checked = _check(key, value)
        except InvalidInput as exc:
            problems[key] = f"{shown}: {WHERE}.{key}: {exc.messages[0]}"
            continue
        if checked is not None:
            settings[key] = checked
    return settings, problems


def _check(key: str, value: Any) -> Any:
    """``value`` of ``key`` checked (None: not set)."""
    if key in ("name", "description", "must_beat"):
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise InvalidInput(f"must be a string, not {type(value).__name__}")
        if key == "name":
            validate_names(value, [])
        elif key == "must_beat":
            parse_must_beat(value)
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("must be a list of strings")
    if key == "aliases":
        return validate_names("model", value)
    for spec in value:
        parse_require(spec)
    return list(value)


def publish_defaults(nb: Any, notebook: str | None) -> tuple[dict[str, Any], list[str]]:
    """Every publish option for notebook ``nb`` at path ``notebook``: its saved settings over
    the defaults (model name from the file name), and the problems of invalid settings."""
    settings, problems = read_settings(nb, notebook)
    defaults = {
        "name": default_model_name(notebook),
        "description": "",
        "aliases": [],
        "require": [],
        "must_beat": None,
    }
    return {**defaults, **settings}, list(problems.values())


def load_settings(notebook: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """:func:`read_settings` of the notebook file (none when it cannot be read: e.g. moved
    since the run)."""
    if not notebook:
        return {}, {}
    try:
        nb = json.loads(Path(notebook).read_bytes())
    except (OSError, ValueError):
        return {}, {}
    return read_settings(nb, notebook)


def fill_options(notebook: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` (publish keyword arguments, None = not given) completed from the
    notebook's settings; an invalid setting that would be used is :class:`InvalidInput`."""
    missing = [k for k in KEYS if options.get(k) is None]
    if not missing:
        return dict(options)
    settings, problems = load_settings(notebook)
    used = [problems[k] for k in ("", *missing) if k in problems]
    if used:
        raise InvalidInput(*used, f"fix {WHERE} in the notebook or give the option explicitly")
    filled = dict(options)
    for key in missing:
        filled[key] = settings.get(key)
    return filled
