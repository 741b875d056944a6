"""The parameters cell: ``name = <literal>`` / ``name: T = <literal>`` lines only."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

_SCALARS = (int, float, str, bool, type(None))


@dataclass
class Parameter:
    """A pipeline parameter: its JSON-able default and type name."""

    name: str
    default: Any
    type: str
    line: int


def type_name(value: Any) -> str:
    """``int``, ``float``, ``str``, ``bool``, ``list``, ``dict`` or ``any`` (None)."""
    if isinstance(value, bool):
        return "bool"
    for cls, name in (
        (int, "int"),
        (float, "float"),
        (str, "str"),
        (list, "list"),
        (tuple, "list"),
        (dict, "dict"),
    ):
        if isinstance(value, cls):
            return name
    return "any"


class _KeyNotText(ValueError):
    """A dict with a non-string key (parameters are JSON data: keys are strings)."""


def _plain(value: Any) -> Any:
    """Check *value* is a supported literal and make it JSON-able (tuple → list)."""
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and value != value:  # NaN is not JSON
            raise ValueError("NaN")
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _KeyNotText()
        return {k: _plain(v) for k, v in value.items()}
    raise ValueError(type(value).__name__)


def parse_parameters(tree: ast.Module) -> tuple[list[Parameter], list[tuple[int, str]]]:
    """Return the parameters and ``(line, message)`` errors of a parameters cell."""
    params: dict[str, Parameter] = {}
    errors: list[tuple[int, str]] = []
    hint = "only 'name = <literal>' or 'name: T = <literal>' lines are allowed in parameters"
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None and stmt.simple:
            target, value = stmt.target, stmt.value
        else:
            errors.append((stmt.lineno, f"{hint}, not '{_snippet(stmt)}'"))
            continue
        if not isinstance(target, ast.Name):
            errors.append((stmt.lineno, f"{hint}, not '{_snippet(stmt)}'"))
            continue
        if target.id in params:
            errors.append(
                (
                    stmt.lineno,
                    f"parameter '{target.id}' is assigned twice (first on line "
                    f"{params[target.id].line}): keep one",
                )
            )
            continue
        if target.id.startswith("_mlops"):
            errors.append(
                (stmt.lineno, f"parameter '{target.id}': names starting with _mlops are reserved")
            )
            continue
        try:
            default = _plain(ast.literal_eval(value))
        except _KeyNotText:
            errors.append(
                (
                    stmt.lineno,
                    f"parameter '{target.id}': dict keys must be strings (parameters are "
                    f"JSON data), not '{_snippet(value)}'",
                )
            )
            continue
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            errors.append(
                (
                    stmt.lineno,
                    f"parameter '{target.id}' must be a literal (int, float, str, bool, "
                    f"None, or a list/tuple/dict of those), not '{_snippet(value)}'",
                )
            )
            continue
        params[target.id] = Parameter(target.id, default, type_name(default), stmt.lineno)
    return list(params.values()), errors


def _snippet(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node).splitlines()[0] if ast.unparse(node) else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


_JSON_TYPES = {
    "int": "integer",
    "float": "number",
    "str": "string",
    "bool": "boolean",
    "list": "array",
    "dict": "object",
}


def parameters_schema(parameters: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A JSON Schema (draft 7) of a pipeline's parameters, in notebook order, for a form
    library (JupyterLab's ``FormComponent``/rjsf): each property has its ``type``, ``title``
    and ``default``; ``x-mlops-type`` is the Python type name. A parameter whose default is
    ``None`` accepts any JSON value (no ``type``), so do a list's items and a dict's values;
    a secret is ``writeOnly``."""
    properties: dict[str, Any] = {}
    for name, info in parameters.items():
        kind = info.get("type", "any")
        prop: dict[str, Any] = {"title": name}
        if kind in _JSON_TYPES:
            prop["type"] = _JSON_TYPES[kind]
        if kind == "list":
            prop["items"] = {}  # any JSON (rjsf needs an items definition)
        prop["default"] = info.get("default")
        prop["x-mlops-type"] = kind
        if info.get("secret"):
            prop["writeOnly"] = True
        properties[name] = prop
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
