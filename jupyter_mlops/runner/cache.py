"""Cache keys: what a step's result depends on, hashed.

A key covers the step's code and the setup code (normalized: comment, blank-line and
markdown edits do not change it), the values of the parameters the step reads, the
digests of its inputs, what it must produce (outputs, metrics, example), the kernel
name, the kernel environment's fingerprint (Python version and installed distributions)
and the serialization format version. The key is the hash of its named parts; the parts
are kept with each step so that a miss can say what changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..serialization import FORMAT_VERSION

KEY_VERSION = 2


def _h(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, default=repr).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def key_parts(
    *,
    code: list[str],
    setup: list[str],
    parameters: dict[str, Any],
    inputs: dict[str, str],
    outputs: list[str],
    metrics: list[str],
    example: str | None,
    kernel: str,
    environment: str = "",
) -> dict[str, str]:
    """The hashed parts of one step's cache key, by name (``parameter:NAME``, ``input:VAR``)."""
    parts = {
        "format": _h([KEY_VERSION, FORMAT_VERSION]),
        "kernel": _h(kernel),
        "environment": _h(environment),
        "setup": _h(setup),
        "code": _h(code),
        "produces": _h([sorted(outputs), sorted(metrics), example]),
    }
    parts.update({f"parameter:{name}": _h(value) for name, value in parameters.items()})
    parts.update({f"input:{var}": digest[:16] for var, digest in inputs.items()})
    return parts


def key_of(parts: dict[str, str]) -> str:
    """The sha256 cache key of one step execution, from its :func:`key_parts`."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def step_key(**material: Any) -> str:
    """The sha256 cache key of one step execution (arguments of :func:`key_parts`)."""
    return key_of(key_parts(**material))


_LABELS = {
    "format": "jupyter-mlops's cache format changed",
    "kernel": "kernel changed",
    "environment": "kernel environment changed (Python or installed packages)",
    "setup": "setup code changed",
    "code": "code changed",
    "produces": "outputs, metrics or example changed",
}


def what_changed(previous: dict[str, str] | None, current: dict[str, str]) -> str | None:
    """Why ``current`` misses where ``previous`` (the step's last key) was recorded:
    e.g. ``code changed; parameter n changed``; None when nothing differs."""
    if not previous:
        return None
    found = []
    for name in sorted(set(previous) | set(current), key=_order):
        if previous.get(name) == current.get(name):
            continue
        kind, _, detail = name.partition(":")
        if kind == "parameter":
            found.append(f"parameter {detail} changed")
        elif kind == "input":
            found.append(f"input {detail} changed")
        else:
            found.append(_LABELS.get(name, f"{name} changed"))
    return "; ".join(found) or None


def _order(name: str) -> tuple[int, str]:
    first = ["code", "setup", "parameter", "input", "environment", "kernel", "produces", "format"]
    kind = name.partition(":")[0]
    return (first.index(kind) if kind in first else len(first), name)
