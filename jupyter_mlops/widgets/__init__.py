"""The run/publish flow as an ipywidget, for every front end that renders ipywidgets
(JupyterLab, Notebook 7, VS Code, ...)::

    from jupyter_mlops.widgets import PipelineWidget
    PipelineWidget("train.ipynb")

Built from ipywidgets' standard controls only (no front-end build of its own). Importing
this package imports nothing else: ipywidgets and the service are imported when a widget is
first made, MLflow never in the kernel (publishing runs in a child process).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PipelineWidget"]


def __getattr__(name: str) -> Any:
    if name == "PipelineWidget":
        from .pipeline import PipelineWidget

        return PipelineWidget
    raise AttributeError(f"module 'jupyter_mlops.widgets' has no attribute {name!r}")
