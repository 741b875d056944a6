"""Cell tags: the vocabulary, its aliases, and parsing one cell's tags.

A cell has at most one *role* (``parameters``, ``setup``, ``skip``, ``metrics``,
``step``) plus step modifiers (``prev:``, ``model:``, ``example:``, ``cache:``, ``reads:``),
and on the parameters cell ``secret:NAME`` (parameter NAME is secret).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..durations import parse_duration as _parse_duration

STEP_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

ROLE_TAGS = {
    "parameters": "parameters",
    "pipeline-parameters": "parameters",
    "imports": "setup",
    "functions": "setup",
    "setup": "setup",
    "skip": "skip",
    "pipeline-metrics": "metrics",
    "metrics": "metrics",
}
PREFIXES = {
    "step": "step",
    "block": "step",
    "prev": "prev",
    "after": "prev",
    "model": "model",
    "example": "example",
    "cache": "cache",
    "secret": "secret",
    "reads": "reads",
    "resources": "resources",
}


def parse_duration(text: str) -> float | None:
    """Seconds in ``6h``, ``30m``, ``1h30m``, ``1.5s`` (None if malformed or zero)."""
    return _parse_duration(text) or None


@dataclass
class CellTags:
    """The meaning of one cell's tags."""

    role: str | None = None  # parameters | setup | skip | metrics | step | None
    step: str | None = None
    prev: list[str] = field(default_factory=list)
    model: str | None = None
    example: str | None = None
    cache_disabled: bool = False
    secrets: list[str] = field(default_factory=list)  # ``secret:NAME`` (parameters cell only)
    cache_ttl: float | None = None  # seconds, from cache:ttl=DURATION
    ttl_text: str | None = None
    reads: list[str] = field(default_factory=list)  # reads:PATH (relative to the notebook)
    resources: dict[str, float] = field(default_factory=dict)  # resources:gpu=1 (Dask)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def modifiers(self) -> list[str]:
        """The step-modifier tags present (for "only on a step" checks)."""
        found = [f"prev:{p}" for p in self.prev]
        if self.model:
            found.append(f"model:{self.model}")
        if self.example:
            found.append(f"example:{self.example}")
        if self.cache_disabled:
            found.append("cache:disabled")
        if self.ttl_text:
            found.append(f"cache:ttl={self.ttl_text}")
        found += [f"reads:{p}" for p in self.reads]
        found += [f"resources:{k}={v:g}" for k, v in self.resources.items()]
        return found


def _set_role(result: CellTags, role: str, tag: str, seen: dict[str, str]) -> None:
    if result.role is not None and result.role != role:
        result.errors.append(
            f"conflicting tags '{seen[result.role]}' and '{tag}' (a cell has one role)"
        )
        return
    result.role = role
    seen.setdefault(role, tag)


def parse_tags(tags: list[str]) -> CellTags:
    """Interpret a code cell's tags; problems go to ``errors``/``warnings``."""
    result = CellTags()
    seen: dict[str, str] = {}
    for tag in tags:
        if tag in ROLE_TAGS:
            _set_role(result, ROLE_TAGS[tag], tag, seen)
            continue
        prefix, colon, value = tag.partition(":")
        kind = PREFIXES.get(prefix) if colon else None
        if kind is None:
            result.warnings.append(f"unknown tag '{tag}' ignored")
            continue
        value = value.strip()
        if kind == "step":
            if not STEP_NAME.match(value):
                result.errors.append(
                    f"malformed tag '{tag}': a step name must match ^[a-z][a-z0-9_-]{{0,62}}$ "
                    "(lowercase letter, then lowercase letters, digits, '_' or '-')"
                )
            elif result.step is not None and result.step != value:
                result.errors.append(f"two step tags on one cell: 'step:{result.step}' and '{tag}'")
            else:
                _set_role(result, "step", tag, seen)
                if result.role == "step":
                    result.step = value
        elif kind == "prev":
            if not value:
                result.errors.append(f"malformed tag '{tag}': expected {prefix}:STEP_NAME")
            elif value not in result.prev:
                result.prev.append(value)
        elif kind == "model":
            if not value.isidentifier():
                result.errors.append(
                    f"malformed tag '{tag}': expected model:VARIABLE (a Python name)"
                )
            elif result.model is not None and result.model != value:
                result.errors.append(
                    f"two model tags on one cell: 'model:{result.model}' and '{tag}'"
                )
            else:
                result.model = value
        elif kind == "example":
            if not value:
                result.errors.append(f"malformed tag '{tag}': expected example:EXPRESSION")
            else:
                result.example = value
        elif kind == "secret":
            if not value.isidentifier():
                result.errors.append(
                    f"malformed tag '{tag}': expected secret:PARAMETER (a Python name)"
                )
            elif value not in result.secrets:
                result.secrets.append(value)
        elif kind == "cache":
            if value == "disabled":
                result.cache_disabled = True
            elif value.startswith("ttl=") and parse_duration(value[4:].strip()):
                result.ttl_text = value[4:].strip()
                result.cache_ttl = parse_duration(result.ttl_text)
            else:
                result.errors.append(
                    f"malformed tag '{tag}': expected 'cache:disabled' or "
                    "'cache:ttl=DURATION' (e.g. cache:ttl=30s, 10m, 6h, 2d)"
                )
        elif kind == "reads":
            if not value:
                result.errors.append(
                    f"malformed tag '{tag}': expected reads:PATH (a file or folder, relative "
                    "to the notebook's folder)"
                )
            elif value not in result.reads:
                result.reads.append(value)
        elif kind == "resources":
            parsed = parse_resources(value)
            if parsed is None:
                result.errors.append(
                    f"malformed tag '{tag}': expected resources:NAME=AMOUNT, e.g. "
                    "resources:gpu=1 or resources:memory=8GiB (a Dask worker resource)"
                )
            else:
                result.resources.update(parsed)
    return result


_RESOURCE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]{0,62})=([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$")
_UNITS = {
    "": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12,
    "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip


def parse_resources(text: str) -> dict[str, float] | None:
    """``gpu=1,memory=8GiB`` -> ``{"gpu": 1, "memory": 8589934592}`` (None if malformed)."""
    found: dict[str, float] = {}
    for item in text.split(","):
        match = _RESOURCE.match(item.strip())
        unit = match.group(3).lower() if match else ""
        if match is None or unit not in _UNITS:
            return None
        amount = float(match.group(2)) * _UNITS[unit]
        if amount <= 0:
            return None
        found[match.group(1)] = amount
    return found or None
