"""Python source for parameter values: literals only, so they arrive in the kernel exactly.

The generated text uses no names at all (not even ``float``, which a user may rebind), so
a parameter is always injected as data: ``1e999`` for infinity, ``(1e999 * 0)`` for NaN,
``repr`` for every other scalar, and lists and string-keyed dicts of those.
"""

from __future__ import annotations

import math
from typing import Any

#: NaN as the kernel computes it from ``(1e999 * 0)`` (its sign bit is platform-defined).
_FOLDED_NAN = 1e999 * 0


def python_literal(value: Any) -> str:
    """Source text that evaluates to ``value`` (JSON-like data) without looking up a name."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)  # ints beyond the int/str digit limit were refused up front
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        if math.isnan(value):
            same = math.copysign(1.0, value) == math.copysign(1.0, _FOLDED_NAN)
            return "(1e999 * 0)" if same else "-(1e999 * 0)"
        return "1e999" if value > 0 else "-1e999"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"not parameter data: {type(value).__name__}")


def assignments(values: dict[str, Any]) -> list[str]:
    """``name = <literal>`` lines (a comment notes non-finite floats)."""
    lines = []
    for name, value in values.items():
        line = f"{name} = {python_literal(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            line += f"  # {value!r}"
        lines.append(line)
    return lines
