"""Publishing run models to an MLflow model registry, and loading them back.

Everything here imports MLflow lazily: ``import jupyter_mlops.registry`` is cheap, and
``load_model`` is resolved on first use. ``publish`` lives at ``jupyter_mlops.publish`` (it
goes through the service facade, a layer above this package).
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_model"]


def __getattr__(name: str) -> Any:
    if name == "load_model":
        from .loading import load_model

        return load_model
    raise AttributeError(f"module 'jupyter_mlops.registry' has no attribute {name!r}")
