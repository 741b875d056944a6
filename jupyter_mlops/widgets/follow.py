"""A background run for the widget: queued through the service, executed in a run process of
its own (started by the server's :class:`~jupyter_mlops.server.run_manager.RunManager`), and
followed through the store's event log from one thread.

Why a process and not a thread of the kernel: the run's scheduler, hashing and report are
Python work that would hold the kernel's GIL while the user keeps executing cells; a run that
crashes (or is killed) must not take the user's kernel with it; and a run in a session of its
own is cancelled with a signal exactly as the server cancels one, and outlives a kernel
restart. The step kernels are separate processes in either case.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import Conflict, MlopsError
from ..runner.store import ACTIVE

PUMP_INTERVAL = 0.5  # seconds between two looks at the run process (ended? cancel overdue?)


class RunFollower:
    """Queue one run, start its process, report its events; all on one thread. With
    ``attach=(run_id, store)`` instead of a ``request``: follow a run already going (started
    by another widget, the panel or the CLI).

    ``on_event(event)`` gets every stored event of the run (``kind`` run/step/output and the
    event's fields), in order; ``on_start(record)`` with the queued run's record; ``on_end(record)``
    with the final run record once its process has exited (the HTML report is then written);
    ``on_error(messages)`` when the run could not be queued or followed.
    """

    def __init__(
        self,
        service: Any,
        request: dict[str, Any] | None,
        *,
        attach: tuple[str, Path] | None = None,
        on_start: Callable[[dict[str, Any]], None],
        on_event: Callable[[dict[str, Any]], None],
        on_end: Callable[[dict[str, Any]], None],
        on_error: Callable[[list[str]], None],
        interval: float = 0.2,
    ) -> None:
        self.service = service
        self.request = request
        self.attach = attach
        self.on_start, self.on_event, self.on_end = on_start, on_event, on_end
        self.on_error = on_error
        self.interval = interval
        self.run_id: str | None = None
        self.store: Path | None = None  # the store holding the run
        self._cancel = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="mlops-widget-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Ask the run to stop (its process stops its kernels and records ``cancelled``)."""
        self._cancel.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following (the run itself goes on in its process) and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        if self.attach is not None:
            run_id, root = self.attach
        else:
            try:
                run_id, root = self.service.queue_run(**(self.request or {}), origin="widget")
            except MlopsError as exc:
                self.on_error(list(exc.messages))
                return
            except Exception as exc:  # noqa: BLE001 - shown in the widget, the kernel lives on
                self.on_error([f"the run could not be started: {type(exc).__name__}: {exc}"])
                return
        self.run_id, self.store = run_id, Path(root)
        try:
            self._follow(Path(root), run_id, spawn=self.attach is None)
        except Exception as exc:  # noqa: BLE001
            self.on_error([f"following run {run_id} failed: {type(exc).__name__}: {exc}"])

    def _follow(self, root: Path, run_id: str, spawn: bool) -> None:
        from ..server.run_manager import RunManager

        # max_concurrent=0: this manager starts only the run it is told to, never the queue
        manager = RunManager(default_store=root, max_concurrent=0,
                             registry_uri=self.service.explicit_registry or "")  # fmt: skip
        try:
            db = manager.store(root)
            assert db is not None
            self.on_start(db.get_run(run_id))
            try:
                if spawn:
                    manager.start(root, run_id)
            except OSError as exc:  # no process: the run never starts, say so in the store
                db.settle_run(run_id, "failed", f"the run process could not start: {exc}")
                self._events(db, run_id, 0)
                self.on_end(db.get_run(run_id))
                return
            seq, cancelled, pumped = 0, False, 0.0
            while not self._stop.is_set():
                if self._cancel.is_set() and not cancelled:
                    cancelled = True
                    with contextlib.suppress(Conflict):
                        manager.cancel(run_id)
                if time.monotonic() - pumped >= PUMP_INTERVAL:
                    manager.pump()  # the process ended? a cancel overdue? (records it if so)
                    pumped = time.monotonic()
                seq = self._events(db, run_id, seq)
                ended = (db.run_state(run_id) or {}).get("status") not in ACTIVE
                if ended and run_id not in manager.children:  # our process: once it exited
                    seq = self._events(db, run_id, seq)  # what it appended before it exited
                    self.on_end(db.get_run(run_id))
                    return
                self._stop.wait(self.interval)
        finally:
            manager.close()

    def _events(self, db: Any, run_id: str, seq: int) -> int:
        for event in db.events(run_id, seq):
            seq = event["seq"]
            if self._stop.is_set():
                break
            self.on_event(event)
        return seq
