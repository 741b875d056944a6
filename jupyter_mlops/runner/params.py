"""Typed pipeline parameters: defaults from the compiled pipeline, overrides from the user.

Overrides from the command line are strings converted to the declared type; overrides
from a Python dict, a JSON or a YAML file are values already and are checked instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def convert_text(name: str, type_name: str, text: str) -> Any:
    """Convert a command-line string to the parameter's declared type."""
    try:
        if type_name == "str":
            return text
        if type_name == "int":
            return int(text.strip())
        if type_name == "float":
            return float(text.strip())
        if type_name == "bool":
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(text)
        value = json.loads(text)
    except ValueError:
        raise InvalidInput(_bad(name, type_name, text)) from None
    return check_value(name, type_name, value)


def check_value(name: str, type_name: str, value: Any) -> Any:
    """Check (and gently coerce, int → float) a value given as data."""
    ok = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "list": lambda v: isinstance(v, (list, tuple)),
        "dict": lambda v: isinstance(v, dict),
    }.get(type_name, lambda v: True)
    if not ok(value):
        raise InvalidInput(_bad(name, type_name, value))
    if type_name == "float":
        return float(value)
    if type_name == "list":
        return list(value)
    if type_name == "any":
        _require_json(name, value)
    return value


def _require_json(name: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"parameter {name!r}: value of type {type(value).__name__} is not JSON data"
        ) from None


def _bad(name: str, type_name: str, value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, default=repr)
    if isinstance(shown, str) and len(shown) > 60:
        shown = shown[:57] + "..."
    hint = {
        "bool": " (use true/false, 1/0 or yes/no)",
        "list": " (give a JSON list)",
        "dict": " (give a JSON object)",
    }.get(type_name, "")
    return f"parameter {name!r} expects {type_name}, got {shown!r}{hint}"


def read_parameter_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parameters from a ``.json``, ``.yaml`` or ``.yml`` file holding one mapping."""
    file = Path(path)
    if not file.is_file():
        raise NotFound(f"{path}: parameter file not found")
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(f"{path}: cannot parse parameters: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: parameters must be a mapping of name to value")
    return data


def resolve_parameters(
    declared: dict[str, dict[str, Any]],
    values: dict[str, Any] | None = None,
    texts: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Defaults overridden by ``values`` (data) then ``texts`` (command-line strings)."""
    resolved = {name: spec["default"] for name, spec in declared.items()}
    problems: list[str] = []
    known = ", ".join(sorted(declared)) or "none"
    overrides: list[tuple[str, Any, bool]] = [(k, v, False) for k, v in (values or {}).items()]
    overrides += [(k, v, True) for k, v in (texts or [])]
    for name, value, is_text in overrides:
        if name not in declared:
            problems.append(f"unknown parameter {name!r}; the notebook's parameters are: {known}")
            continue
        type_name = declared[name]["type"]
        try:
            resolved[name] = (
                convert_text(name, type_name, value)
                if is_text
                else check_value(name, type_name, value)
            )
        except InvalidInput as exc:
            problems.extend(exc.messages)
    if problems:
        raise InvalidInput(*problems)
    return resolved
