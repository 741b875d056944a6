"""Durations written by users: ``45s``, ``90m``, ``6h``, ``1h30m``, ``1.5s``, ``2w``."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float | None:
    """Seconds in ``text`` (one or more number+unit parts), or None if it is malformed."""
    text = (text or "").strip()
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)
