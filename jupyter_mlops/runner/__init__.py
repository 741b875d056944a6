"""Headless pipeline runs on papermill: scheduling, caching, the run store.

Imported lazily: ``jupyter_mlops.runner.store`` (what the server needs at start) does not
pull in the compiler, the scheduler or papermill.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Run", "Store", "run_pipeline"]

_LAZY = {"Run": ".run", "run_pipeline": ".run", "Store": ".store"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'jupyter_mlops.runner' has no attribute {name!r}")
