"""``/mlops/api/runs``: background runs, their steps, logs, reports and events."""

from __future__ import annotations

from .handlers import MlopsHandler


def routes() -> list[tuple[str, type[MlopsHandler]]]:
    return []
