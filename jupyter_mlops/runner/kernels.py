"""Kernel slots: live kernels that steps run in, reused along a run where allowed.

A slot owns one kernel (started lazily in the worker thread that first needs it) and
remembers which variables it holds, so the scheduler can send a step to the kernel that
already has its inputs. ``--isolate`` uses one fresh slot per step.

nbclient needs an *async* kernel manager (a blocking client would stall its event loop
and never notice a dead kernel), so slots drive ``AsyncKernelManager`` with
``run_sync`` from their worker thread. ``kill`` may be called from any thread (timeouts,
cancellation): it signals the kernel process directly and nbclient notices within ~1 s.

Steps run in a slot's own thread (:meth:`KernelSlot.call`): the slot keeps one kernel
client for all its steps (``client``: channels, readiness check and kernel info are paid
once per kernel, not per step), and a client's asyncio sockets belong to the event loop
of the thread that made them, while the scheduler's worker threads take any slot.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any


def kernel_env(kernel_name: str = "") -> dict[str, str]:
    """The environment for kernels: ours, with only the private folder holding the
    kernel-side helpers (``_jupyter_mlops_kernel``) added to the path (nothing of the
    server's site-packages: a kernel from another environment keeps its own packages)."""
    from ..kernel_package import kernel_environ

    env = kernel_environ(kernel_name)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


# Options for an IPython kernel that runs steps headless:
# - no input history: generated cells would fill the user's IPython history, parallel kernels
#   would contend for its SQLite file, and each cell would pay 1-3 ms for it;
# - no 0.5 ms sleep before each execute reply (ipykernel's ``Kernel._execute_sleep``, for
#   clients that stop reading at the reply): nbclient reads IOPub up to the request's
#   "idle", which the kernel publishes after the cell's output, so nothing is lost. The
#   sleep costs ≈ 1 ms per cell (timer granularity), three times per step.
IPYTHON_KERNEL_OPTIONS = ("--HistoryManager.enabled=False", "--Kernel._execute_sleep=0")


def kernel_arguments(km: Any) -> list[str]:
    """Extra command-line options for the kernel: :data:`IPYTHON_KERNEL_OPTIONS` for an
    IPython kernel, none for others."""
    try:
        argv = km.kernel_spec.argv
    except Exception:  # noqa: BLE001 - a missing kernelspec is reported by start_kernel
        return []
    return list(IPYTHON_KERNEL_OPTIONS) if any("ipykernel" in a for a in argv) else []


class KernelSlot:
    """One kernel and what the scheduler knows about the variables it holds."""

    def __init__(
        self,
        index: int,
        kernel_name: str,
        cwd: str,
        log_path: Path,
        ipc_prefix: str,
        on_start: Callable[[int], None] | None = None,
    ) -> None:
        self.index = index
        self.on_start = on_start
        self.ipc_prefix = ipc_prefix
        self.kernel_name = kernel_name
        self.cwd = cwd
        self.log_path = log_path
        self.km: Any = None
        self.holds: dict[str, str] = {}  # variable -> digest (a hint; the kernel re-checks)
        self.pending: list[str] = []  # artifacts this kernel is still writing
        self.busy = False
        self.used = False  # has run a step (--isolate never reuses such a kernel)
        self.killed = False
        self.closed = False  # shut down: never (re)started, even by a late background start
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()
        self.client: dict[str, Any] = {}  # the steps' kernel client (see engine.py)
        self._home: ThreadPoolExecutor | None = None
        self._home_thread: int | None = None  # its thread's ident
        self._home_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """``fn(*args)`` in this slot's own thread (made on first use)."""
        with self._home_lock:
            if self.closed:  # no thread (and no client) made again for a slot shut down
                raise RuntimeError("this kernel slot was shut down")
            if self._home is None:
                self._home = ThreadPoolExecutor(1, thread_name_prefix=f"kernel-{self.index}")
                self._home_thread = self._home.submit(threading.get_ident).result()
            return self._home.submit(fn, *args)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in this slot's own thread, waiting for it (at once when called
        from that thread)."""
        if threading.get_ident() == self._home_thread:
            return fn(*args)
        return self.submit(fn, *args).result()

    def _close_home(self) -> None:
        """Close the steps' client and the home thread's event loop, then the thread."""
        with self._home_lock:
            home, self._home, self._home_thread = self._home, None, None
        if home is None:
            return
        home.submit(_close_client_and_loop, self.client).result()
        home.shutdown(wait=True)

    def start(self) -> None:
        """Start the kernel if it is not running yet (blocking, ~1 s).

        Kernels are started in sessions of their own (jupyter_client's default on POSIX).
        """
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        with self._lock:
            if self.closed:
                raise RuntimeError("this kernel slot was shut down")
            if self.km is not None:
                return
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in shutdown()
            # IPC sockets under a private folder: no TCP port races between the kernels that
            # several runs start at once, and nothing listens on the network
            km = AsyncKernelManager(
                kernel_name=self.kernel_name, transport="ipc", ip=self.ipc_prefix
            )
            try:
                run_sync(km.start_kernel)(
                    cwd=self.cwd,
                    env=kernel_env(self.kernel_name),
                    stdout=self._log,
                    stderr=self._log,
                    extra_arguments=kernel_arguments(km),
                )
            except BaseException:
                self._log.close()
                self._log = None
                raise
            self.km = km
            process = self._process()
            if self.on_start is not None and process is not None:
                self.on_start(process.pid)
        if self.killed:  # killed while starting
            self.kill()

    def _process(self) -> Any:
        provisioner = getattr(self.km, "provisioner", None)
        return getattr(provisioner, "process", None)

    def startup_problem(self) -> str | None:
        """Why this kernel could not start, when its log shows ipykernel is missing."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, fh.seek(0, 2) - 8000))
                tail = fh.read().decode(errors="replace")
        except OSError:
            return None
        if "No module named ipykernel" not in tail:
            return None
        argv = getattr(getattr(self.km, "kernel_spec", None), "argv", None) or ["python"]
        return (
            f"kernel {self.kernel_name!r} cannot start: ipykernel is not installed in its "
            f"environment; install what jupyter-mlops needs there: `{argv[0]} -m pip install "
            "ipykernel cloudpickle`"
        )

    def is_alive(self) -> bool:
        process = self._process()
        return not self.killed and process is not None and process.poll() is None

    def kill(self) -> None:
        """Stop the kernel at once; safe from any thread."""
        self.killed = True
        process = self._process()
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGKILL)

    def shutdown(self) -> None:
        """Shut the kernel down and release its resources (blocking).

        A start still in progress (a kernel warming up in a background thread) is waited
        for, so that kernel is shut down too; no later start can begin.
        """
        from jupyter_core.utils import run_sync

        self.closed = True
        self._close_home()
        with self._lock:
            km, self.km = self.km, None
            if km is not None:
                with contextlib.suppress(Exception):
                    run_sync(km.shutdown_kernel)(now=True)
            if self._log is not None:
                self._log.close()
                self._log = None


def _close_client_and_loop(client: dict[str, Any]) -> None:
    """In a slot's home thread: stop the steps' client, close the thread's event loop."""
    from jupyter_core.utils import ensure_event_loop

    from .engine import forget_client

    forget_client(client)
    loop = ensure_event_loop()
    if not loop.is_running() and not loop.is_closed():
        with contextlib.suppress(Exception):
            loop.close()
