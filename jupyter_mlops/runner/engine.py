"""A papermill engine that executes a notebook in an already running kernel.

papermill's default engine starts and stops a kernel per notebook; this one takes the
kernel manager of a :class:`~jupyter_mlops.runner.kernels.KernelSlot` (``km=``) and leaves
the kernel running for the next step, closing only its own client channels.
"""

from __future__ import annotations

import logging
from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

ENGINE_NAME = "jupyter-mlops-warm"

# nbclient logs kernel deaths itself; the runner reports them as step errors instead.
_quiet = logging.getLogger("jupyter_mlops.nbclient")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class WarmKernelEngine(NBClientEngine):
    """NBClientEngine, but on the caller's kernel manager."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        km = kwargs.pop("km")
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(
            kwargs,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=_quiet,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client = PapermillNotebookClient(nb_man, km=km, **final)
        try:
            return client.execute(cleanup_kc=False)
        finally:
            if client.kc is not None:
                client.kc.stop_channels()


papermill_engines.register(ENGINE_NAME, WarmKernelEngine)
