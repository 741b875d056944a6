"""Typed pipeline parameters: defaults from the compiled pipeline, overrides from the user.

Overrides from the command line are strings converted to the declared type; overrides
from a Python dict, a JSON or a YAML file are values already and are checked instead.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound

_SURROGATE = re.compile("[\ud800-\udfff]")
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def convert_text(name: str, type_name: str, text: str) -> Any:
    """Convert a command-line string to the parameter's declared type."""
    _check_text(name, text, "the value")
    try:
        if type_name == "str":
            return text
        if type_name == "int":
            digits = text.strip().lstrip("+-")
            if digits.isdigit() and len(digits) > _digit_limit() > 0:
                raise InvalidInput(
                    f"parameter {name!r}: an integer with more digits than Python's int/str "
                    f"limit ({_digit_limit()})"
                )
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
    except (ValueError, RecursionError):
        raise InvalidInput(_bad(name, type_name, text)) from None
    return check_value(name, type_name, value)


def _check_text(name: str, text: str, what: str) -> None:
    """Text must be valid Unicode: an invalid UTF-8 command-line argument arrives with
    surrogate escapes (and a lone surrogate cannot be written to a notebook either)."""
    match = _SURROGATE.search(text)
    if match is None:
        return
    bad = match.start()
    code = ord(text[bad])
    detail = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
    raise InvalidInput(
        f"parameter {name!r}: {what} is not valid UTF-8 text ({detail} at position {bad})"
    )


MAX_NESTING = 100  # lists/dicts inside lists/dicts: deeper values are refused
MAX_ITEMS = 1_000_000  # scalars and containers in one value (YAML anchors can multiply them)
_LEAVE = object()


def _digit_limit() -> int:
    return getattr(sys, "get_int_max_str_digits", lambda: 4300)()


def _check_data(name: str, value: Any) -> None:
    """JSON-like data only: str, int (within Python's int/str digit limit), float, bool,
    None, lists and string-keyed dicts, at most :data:`MAX_NESTING` deep, no cycles."""
    stack: list[Any] = [value]
    path: set[int] = set()  # ids of the containers being visited (a cycle revisits one)
    seen = 0
    while stack:
        item = stack.pop()
        if item is _LEAVE:
            path.discard(id(stack.pop()))
            continue
        seen += 1
        if seen > MAX_ITEMS:
            raise InvalidInput(f"parameter {name!r}: more than {MAX_ITEMS:,} items")
        if isinstance(item, str):
            _check_text(name, item, "a string")
        elif isinstance(item, int) and not isinstance(item, bool):
            try:
                str(item)
            except ValueError:
                raise InvalidInput(
                    f"parameter {name!r}: an integer with more digits than Python's int/str "
                    f"limit ({_digit_limit()})"
                ) from None
        elif isinstance(item, (list, tuple, dict)):
            if id(item) in path:
                raise InvalidInput(
                    f"parameter {name!r}: the value contains itself (a YAML anchor cycle?)"
                )
            if len(path) >= MAX_NESTING:
                raise InvalidInput(
                    f"parameter {name!r}: lists/dicts nested more than {MAX_NESTING} deep"
                )
            for key in item if isinstance(item, dict) else ():
                if not isinstance(key, str):
                    raise InvalidInput(
                        f"parameter {name!r}: dict keys must be strings, got "
                        f"{_short(key)} ({type(key).__name__})"
                    )
                _check_text(name, key, "a dict key")
            path.add(id(item))
            stack += [item, _LEAVE]
            stack += list(item.values()) if isinstance(item, dict) else list(item)
        elif not (item is None or isinstance(item, (bool, float))):
            raise InvalidInput(
                f"parameter {name!r}: a value of type {type(item).__name__} ({_short(item)}) "
                "is not parameter data (str, int, float, bool, None, list, dict)"
            )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
    _check_data(name, value)
    if type_name == "float":
        try:
            return float(value)
        except OverflowError:
            raise InvalidInput(
                f"parameter {name!r} expects float, got an integer too large for a float"
            ) from None
    if type_name == "list":
        return list(value)
    return value


def _bad(name: str, type_name: str, value: Any) -> str:
    try:
        shown = value if isinstance(value, str) else json.dumps(value, default=repr)
    except (ValueError, RecursionError):  # a cycle, or nested too deeply to show
        shown = type(value).__name__
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
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InvalidInput(f"{path}: cannot read parameters: {reason}") from None
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
