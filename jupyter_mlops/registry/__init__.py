"""Publishing run models to an MLflow model registry, and loading them back.

Everything here imports MLflow lazily: ``import jupyter_mlops.registry`` is cheap, and
``publish`` / ``load_model`` are resolved on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["publish", "load_model"]


def __getattr__(name: str) -> Any:
    if name == "publish":
        from .api import publish

        return publish
    if name == "load_model":
        from .loading import load_model

        return load_model
    raise AttributeError(f"module 'jupyter_mlops.registry' has no attribute {name!r}")
