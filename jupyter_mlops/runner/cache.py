"""Cache keys: what a step's result depends on, hashed.

A key covers the step's code and the setup code (normalized: comment, blank-line and
markdown edits do not change it), the values of the parameters the step reads, the
digests of its inputs, what it must produce (outputs, metrics, example), the kernel
name and the serialization format version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..serialization import FORMAT_VERSION

KEY_VERSION = 1


def step_key(
    *,
    code: list[str],
    setup: list[str],
    parameters: dict[str, Any],
    inputs: dict[str, str],
    outputs: list[str],
    metrics: list[str],
    example: str | None,
    kernel: str,
) -> str:
    """The sha256 cache key of one step execution."""
    material = {
        "key_version": KEY_VERSION,
        "format_version": FORMAT_VERSION,
        "kernel": kernel,
        "setup": setup,
        "code": code,
        "parameters": parameters,
        "inputs": dict(sorted(inputs.items())),
        "outputs": sorted(outputs),
        "metrics": sorted(metrics),
        "example": example,
    }
    blob = json.dumps(material, sort_keys=True, default=repr).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()
