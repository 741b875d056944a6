"""Compile a tagged notebook into a pipeline of steps with inferred data flow.

``compile_notebook(path_or_notebook) -> Pipeline``. Cell indices in ``Pipeline``
and ``to_dict()`` are 0-based (the JSON ``cells`` field); cell numbers in error
and warning messages are 1-based, as a JupyterLab user counts cells.
"""

from __future__ import annotations

from .compile import compile_notebook
from .diagnostics import CompileError
from .pipeline import Pipeline, Step
from .source import normalize_code

__all__ = ["CompileError", "Pipeline", "Step", "compile_notebook", "normalize_code"]
