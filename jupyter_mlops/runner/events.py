"""A run's event log: state changes and step output, appended to the store as they happen.

:class:`EventRecorder` is the scheduler's ``on_event`` listener: it appends run and step
events to the store's ``events`` table (then passes them on, e.g. to the CLI's progress
lines), and a background thread tails each running step's ``runs/<id>/<step>.log`` into
``output`` events, a few per second per step at most. A step's last output is appended
before the event that says it finished.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .secrets import scrub_text
from .store import Store

OUTPUT_INTERVAL = 0.3  # seconds between two output events of a step
OUTPUT_MAX = 64 * 1024  # characters per output event; the step log keeps everything
FINISHED = ("succeeded", "failed", "cached", "skipped")


def step_status(status: str) -> str:
    """The public step status (the store's ``queued`` is ``pending`` to clients)."""
    return "pending" if status == "queued" else status


def error_line(error: Any) -> str | None:
    """A step error (dict of a StepError) as one line: ``ename: evalue (cell N)``."""
    if not error:
        return None
    if isinstance(error, str):
        return error
    where = f" (cell {error['cell'] + 1})" if error.get("cell") is not None else ""
    return f"{error.get('ename')}: {error.get('evalue')}{where}"


class EventRecorder:
    """Records a run's events in its store; forwards them to ``forward`` (may be None)."""

    def __init__(
        self, store: Store, run_id: str, forward: Any = None, secrets: Iterable[Any] = ()
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.forward = forward
        self.secrets = list(secrets)  # values shown as <secret> in output events
        self._logs: dict[str, tuple[Path, int, bytes]] = {}  # step -> (log, offset, partial)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tail, name="mlops-output", daemon=True)
        self._thread.start()

    def __call__(self, kind: str, name: str, info: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # a full disk must not end the run
            self._record(kind, name, info)
        if self.forward is not None:
            self.forward(kind, name, info)

    def _record(self, kind: str, name: str, info: dict[str, Any]) -> None:
        if kind == "run":
            data = {"status": info["status"], "error": info.get("error")}
            self.store.add_event(self.run_id, "run", data)
            return
        if kind != "step":
            return
        status = info["status"]
        if status == "running":
            with self._lock:
                self._logs[name] = (self.store.run_dir(self.run_id) / f"{name}.log", 0, b"")
        elif status in FINISHED:
            self._flush(name, final=True)
        self.store.add_event(
            self.run_id,
            "step",
            {
                "step": name,
                "status": step_status(status),
                "duration_s": info.get("duration_s"),
                "error": error_line(info.get("error")),
                "reason": info.get("reason"),
            },
        )

    def _tail(self) -> None:
        while not self._stop.wait(OUTPUT_INTERVAL):
            for name in list(self._logs):
                with contextlib.suppress(Exception):
                    self._flush(name, final=False)

    def _flush(self, name: str, final: bool) -> None:
        """Append the step's new complete lines (all of it when ``final``) as one event."""
        with self._lock:
            entry = self._logs.get(name)
            if entry is None:
                return
            path, offset, partial = entry
            try:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except OSError:
                data = b""
            offset += len(data)
            data = partial + data
            cut = len(data) if final else data.rfind(b"\n") + 1
            text, partial = data[:cut], data[cut:]
            if final:
                del self._logs[name]
            else:
                self._logs[name] = (path, offset, partial)
            if not text:
                return
            shown = text.decode("utf-8", errors="replace")
            if self.secrets:  # the live log is scrubbed only when the step ends
                shown = scrub_text(shown, self.secrets)
            if len(shown) > OUTPUT_MAX:
                more = len(shown) - OUTPUT_MAX
                shown = shown[:OUTPUT_MAX] + f"\n… ({more} more characters in the step log)\n"
            self.store.add_event(self.run_id, "output", {"step": name, "text": shown})

    def close(self) -> None:
        """Stop tailing (the remaining output of unfinished steps is appended)."""
        self._stop.set()
        self._thread.join(timeout=5)
        for name in list(self._logs):
            with contextlib.suppress(Exception):
                self._flush(name, final=True)
