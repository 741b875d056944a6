"""``/mlops/api/models``: registered models, publishing, aliases and history."""

from __future__ import annotations

from .handlers import MlopsHandler


def routes() -> list[tuple[str, type[MlopsHandler]]]:
    return []
