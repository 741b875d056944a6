"""Headless pipeline runs on papermill: scheduling, caching, the run store."""

from __future__ import annotations

from .run import Run, run_pipeline
from .store import Store

__all__ = ["Run", "Store", "run_pipeline"]
