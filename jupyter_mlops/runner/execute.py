"""Execute one step notebook through papermill in a kernel slot; classify failures."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .kernels import KernelSlot


@dataclass
class StepError:
    """Why a step failed: the user's cell (0-based, None for our own cells), ename, evalue."""

    cell: int | None
    ename: str
    evalue: str

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "ename": self.ename, "evalue": self.evalue}


class StepTimeout(Exception):
    pass


def execute_step_notebook(
    slot: KernelSlot,
    nb: Any,
    output_path: Path,
    log_path: Path,
    parameters: dict[str, Any],
    timeout: float | None,
    cancelled: threading.Event,
) -> StepError | None:
    """Run ``nb`` in ``slot``'s kernel, writing the executed notebook; None on success."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from .engine import ENGINE_NAME

    slot.start()
    if cancelled.is_set() or slot.killed:
        return StepError(None, "Cancelled", "the run was cancelled")
    timer = None
    timed_out = threading.Event()
    if timeout:

        def _expire() -> None:
            timed_out.set()
            slot.kill()

        timer = threading.Timer(timeout, _expire)
        timer.daemon = True
        timer.start()
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            papermill.execute_notebook(
                nb,
                str(output_path),
                parameters=parameters or None,
                engine_name=ENGINE_NAME,
                kernel_name=slot.kernel_name,
                progress_bar=False,
                log_output=True,
                stdout_file=log,
                stderr_file=log,
                km=slot.km,
            )
        return None
    except PapermillExecutionError as exc:
        return StepError(_source_cell(nb, exc.cell_index), exc.ename, _first_line(exc.evalue))
    except Exception as exc:  # noqa: BLE001 - dead kernel, timeout, cancellation, ZMQ errors
        cell = _running_cell(output_path)
        if timed_out.is_set():
            error = StepError(cell, "StepTimeout", f"the step ran longer than {timeout:g} s")
        elif cancelled.is_set():
            error = StepError(cell, "Cancelled", "the run was cancelled")
        else:
            name = type(exc).__name__
            detail = _first_line(str(exc)) or "the kernel stopped"
            if not slot.is_alive():
                name, detail = (
                    "DeadKernelError",
                    f"the kernel died while running the step ({detail})",
                )
                if slot.startup_problem():
                    name, detail = "KernelEnvironmentError", slot.startup_problem()
            error = StepError(cell, name, detail)
        _mark_error(output_path, error)
        slot.kill()
        return error
    finally:
        if timer is not None:
            timer.cancel()


def _first_line(text: str) -> str:
    text = (text or "").strip()
    return text.splitlines()[0] if text else ""


def _source_cell(nb: Any, index: int | None) -> int | None:
    if index is None or index >= len(nb.cells):
        return None
    return nb.cells[index].metadata.get("mlops", {}).get("source_cell")


def _last_started(nb: dict[str, Any]) -> dict[str, Any] | None:
    """The last cell papermill started (it was executing when the kernel went away)."""
    started = [
        c
        for c in nb.get("cells", [])
        if c.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None


def _running_cell(output_path: Path) -> int | None:
    """The user's cell that was executing when the kernel went away, from papermill's marks."""
    try:
        nb = json.loads(output_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    cell = _last_started(nb)
    return None if cell is None else cell.get("metadata", {}).get("mlops", {}).get("source_cell")


def _mark_error(output_path: Path, error: StepError) -> None:
    """Record a kernel-level failure in the executed notebook, like papermill does for cells."""
    try:
        nb = json.loads(output_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    cell = _last_started(nb)
    if cell is None:
        return
    meta = cell.setdefault("metadata", {}).setdefault("papermill", {})
    meta["status"] = "failed"
    meta["exception"] = True
    cell.setdefault("outputs", []).append(
        {
            "output_type": "error",
            "ename": error.ename,
            "evalue": error.evalue,
            "traceback": [f"{error.ename}: {error.evalue}"],
        }
    )
    output_path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
