"""jupyter-mlops: take a tagged notebook to a versioned model without leaving JupyterLab.

The public Python API is imported lazily so that ``import jupyter_mlops`` stays cheap
(no papermill, mlflow or jupyter_server until a function that needs them is called).
"""

from __future__ import annotations

from typing import Any

from ._version_info import __version__

__all__ = [
    "__version__",
    "compile_notebook",
    "run_pipeline",
    "publish",
    "load_model",
]

_LAZY = {
    "compile_notebook": "jupyter_mlops.compiler",
    "run_pipeline": "jupyter_mlops.runner",
    "publish": "jupyter_mlops.api",
    "load_model": "jupyter_mlops.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jupyter_mlops' has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-mlops"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import MlopsExtension

    return [{"module": "jupyter_mlops", "app": MlopsExtension}]
