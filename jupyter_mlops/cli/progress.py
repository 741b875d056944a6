"""Live step progress on stderr and the end-of-run summary table."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

SYMBOLS = {
    "queued": "·",
    "running": "▶",
    "succeeded": "✔",
    "cached": "↺",
    "failed": "✘",
    "skipped": "–",
}


class Progress:
    """Step events → plain lines (pipes, CI) or one redrawn status line (a terminal)."""

    def __init__(self, steps: list[str], stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.status = dict.fromkeys(steps, "queued")
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._done = threading.Event()
        if self.tty:  # keep the clock ticking during long steps
            threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        while not self._done.wait(0.5):
            self._redraw()

    def _redraw(self) -> None:
        with self._lock:
            if self._done.is_set():
                return
            elapsed = time.monotonic() - self.started
            line = "  ".join(f"{SYMBOLS.get(s, '?')} {n}" for n, s in self.status.items())
            self.stream.write(f"\r\x1b[2K[{elapsed:6.1f}s] {line}")
            if all(s not in ("queued", "running") for s in self.status.values()):
                self.stream.write("\n")
                self._done.set()
            self.stream.flush()

    def __call__(self, kind: str, name: str, info: dict[str, Any]) -> None:
        if kind != "step":
            return
        self.status[name] = info["status"]
        if self.tty:
            self._redraw()
            return
        elapsed = time.monotonic() - self.started
        extra = f" ({info['duration_s']:.2f} s)" if info.get("duration_s") else ""
        self.stream.write(f"[{elapsed:6.1f}s] {name}: {info['status']}{extra}\n")
        self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self.tty and not self._done.is_set():
                self.stream.write("\n")
                self.stream.flush()
            self._done.set()


def summary_table(record: dict[str, Any]) -> str:
    """The steps of a run as an aligned text table, then the metrics and model."""
    rows = [("step", "status", "seconds", "why", "notebook")]
    for name, step in record["steps"].items():
        seconds = "" if step["duration_s"] is None else f"{step['duration_s']:.2f}"
        why = step.get("reason") or ""
        rows.append((name, step["status"], seconds, why, step["notebook"] or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:<{widths[3]}}"
        f"  {r[4]}".rstrip()
        for r in rows
    ]
    lines.insert(
        0,
        f"run {record['id']}: {record['status']} in {record['duration_s'] or 0:.2f} s",
    )
    for name, value in record["metrics"].items():
        lines.append(f"metric {name} = {value}")
    if record.get("model"):
        model = record["model"]
        lines.append(f"model {model['variable']} (step {model['step']!r}): {model['artifact']}")
    if record.get("report"):
        lines.append(f"report {record['report']}")
    return "\n".join(lines)


#: what each of our generated step-notebook cells does (``error.generated`` in a run record)
GENERATED = {
    "prelude": "prepares the kernel for the step",
    "reads": "starts recording the files the step reads",
    "parameters": "sets the parameters' defaults",
    "injected-parameters": "sets the run's parameter values",
    "inputs": "loads the step's inputs",
    "outputs": "saves the step's outputs, metrics and example",
}


def failure_lines(record: dict[str, Any]) -> list[str]:
    """One line per failed step: step, cell (1-based), exception, executed notebook."""
    lines = []
    for name, step in record["steps"].items():
        error = step.get("error")
        if step["status"] != "failed" or not error:
            continue
        lines.append(
            f"step {name!r} failed{_where(error)}: {error['ename']}: {error['evalue']}"
            f" (executed notebook: {step['notebook']})"
        )
    return lines


def _where(error: dict[str, Any]) -> str:
    """`` in cell N`` (1-based, the user's notebook) or which of our generated cells."""
    if error.get("cell") is not None:
        return f" in cell {error['cell'] + 1}"
    if error.get("generated"):
        what = GENERATED.get(error["generated"], error["generated"])
        return f" in jupyter-mlops's generated cell that {what}"
    return ""
