"""Strict JSON for records that may hold non-finite floats (a ``-p ratio nan`` parameter).

Python's ``json`` writes ``NaN``/``Infinity``, which is not JSON. Our JSON output writes them
as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` instead (``float()`` reads each
back); metrics are already numbers or null.
"""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its string name."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that always produces valid JSON (see module doc)."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
