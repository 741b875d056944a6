"""Runs inside the kernel of ``jupyter mlops verify``'s notebook run: save the values of
some names at one point of the notebook, without changing the namespace.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from typing import Any

from .serialization import SerializationError, dump


def capture(
    namespace: dict[str, Any] | None,
    label: str,
    names: list[str],
    metrics: list[str],
    artifacts: str,
    out: str,
) -> None:
    """Write ``{"values": {name: entry | {"missing"} | {"error"}}, "metrics": {...}}`` to
    ``out`` for the calling cell's globals (``namespace`` None)."""
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    record: dict[str, Any] = {"label": label, "values": {}, "metrics": {}}
    for name in names:
        if name not in namespace:
            record["values"][name] = {"missing": True}
            continue
        try:
            record["values"][name] = dump(namespace[name], artifacts)
        except SerializationError as exc:
            record["values"][name] = {"error": f"{exc.type_name}: {exc.reason}"}
    for name in metrics:
        value = namespace.get(name)
        if hasattr(value, "item") and callable(value.item):
            with contextlib.suppress(TypeError, ValueError):
                value = value.item()
        if isinstance(value, bool | int | float):
            record["metrics"][name] = (
                None if isinstance(value, float) and not math.isfinite(value) else value
            )
        else:
            record["metrics"][name] = None
    tmp = f"{out}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    os.replace(tmp, out)
