"""Execute one step notebook through papermill in a kernel slot; classify failures."""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .kernels import KernelSlot
from .stepnb import failed_part

ERROR_MARKER = "papermill-error-cell-tag"  # papermill's tag on the cells it adds on failure


@dataclass
class StepError:
    """Why a step failed: the user's cell (0-based, None for our own cells), ename, evalue,
    and which of our generated cells failed (``mlops.generated`` of the cell), if one did."""

    cell: int | None
    ename: str
    evalue: str
    generated: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "ename": self.ename,
            "evalue": self.evalue,
            "generated": self.generated,
        }


SYSTEM_EXIT = (
    "sys.exit() stops the step before its outputs are saved: a step must run to its end "
    "(raise an exception to make it fail)"
)


class StepTimeout(Exception):
    pass


def execute_step_notebook(
    slot: KernelSlot,
    nb: Any,
    output_path: Path,
    log_path: Path,
    timeout: float | None,
    cancelled: threading.Event,
) -> StepError | None:
    """Run ``nb`` in ``slot``'s kernel, writing the executed notebook; None on success.

    Parameters are not passed to papermill: ``nb`` already holds them as literals in its
    ``injected-parameters`` cell (see :mod:`.stepnb`), so cell indices need no shifting.
    The executed notebook is written once, when the step ends (papermill's save after every
    cell is turned off: nothing reads it while the step runs; live output is in the log)."""
    from papermill.exceptions import PapermillExecutionError

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
    holder: dict[str, Any] = {}  # the notebook being executed (engine.py fills it)
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            executed = slot.call(run_papermill, nb, output_path, slot, log, holder)
        return _unfinished(executed)
    except PapermillExecutionError as exc:
        cell, generated = _failed_cell(holder["nb"], exc.cell_index)
        return StepError(cell, exc.ename, _first_line(exc.evalue), generated)
    except Exception as exc:  # noqa: BLE001 - dead kernel, timeout, cancellation, ZMQ errors
        _write_partial(holder.get("nb"), output_path)
        running = holder.get("running")  # the engine knows; else papermill's last start
        cell, generated = _running_cell(output_path, running)
        if timed_out.is_set():
            error = StepError(
                cell, "StepTimeout", f"the step ran longer than {timeout:g} s", generated
            )
        elif cancelled.is_set():
            error = StepError(cell, "Cancelled", "the run was cancelled", generated)
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
            error = StepError(cell, name, detail, generated)
        _mark_error(output_path, error, running)
        slot.kill()
        return error
    finally:
        if timer is not None:
            timer.cancel()


def run_papermill(nb: Any, output_path: Path, slot: KernelSlot, log: Any, holder: dict) -> Any:
    """``papermill.execute_notebook`` for a notebook we generated, minus what only a file
    from a user needs: papermill serializes the notebook it is given and parses it again
    (two schema validations), and validates it once more to write it; here the notebook
    gets the metadata papermill's loader adds and runs through papermill's engine and error
    handling, and is written once, when the step ends (nothing reads it while the step
    runs: live output is in the log). ``holder["nb"]`` is the notebook as executed so far.
    Raises ``PapermillExecutionError`` for a failed cell, after writing the notebook with
    papermill's error markers."""
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import prepare_notebook_metadata, raise_for_execution_errors

    from .engine import ENGINE_NAME

    _as_loaded(nb)
    nb = prepare_notebook_metadata(nb, "<generated step notebook>", str(output_path))
    holder["nb"] = nb
    try:
        nb = papermill_engines.execute_notebook_with_engine(
            ENGINE_NAME,
            nb,
            input_path=None,
            output_path=None,
            kernel_name=slot.kernel_name,
            progress_bar=False,
            log_output=True,
            start_timeout=60,
            stdout_file=log,
            stderr_file=log,
            km=slot.km,
            reuse_client=slot.client,
            nb_holder=holder,
        )
        holder["nb"] = nb
        raise_for_execution_errors(nb, None)  # adds its markers to nb, then raises
    except PapermillExecutionError:
        write_notebook(nb, output_path)
        raise
    write_notebook(nb, output_path)
    return nb


def _as_loaded(nb: Any) -> None:
    """What papermill's ``load_notebook_node`` adds to a notebook it reads."""
    from papermill import __version__

    nb.metadata.setdefault(
        "papermill",
        {"default_parameters": {}, "parameters": {}, "environment_variables": {}},
    )
    nb.metadata.papermill.setdefault("version", __version__)
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata.setdefault("papermill", {})


def write_notebook(nb: Any, path: Path) -> None:
    """Write ``nb`` as nbformat does (sorted keys, indent 1), without validating it."""
    text = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def _write_partial(nb: Any, output_path: Path) -> None:
    """The notebook as far as it ran (papermill writes it only when the step ends)."""
    if nb is None:
        return
    with contextlib.suppress(Exception):  # the step's error is what gets reported
        write_notebook(nb, output_path)


def _first_line(text: str) -> str:
    text = (text or "").strip()
    return text.splitlines()[0] if text else ""


def _origin(cell: dict[str, Any]) -> tuple[int | None, str | None]:
    """(user's cell index, None) for the user's cells, (None, role) for generated ones."""
    meta = cell.get("metadata", {})
    mlops = meta.get("mlops")
    if mlops is None:  # not from our step notebook: papermill's own insertions
        tags = meta.get("tags", [])
        return None, "injected-parameters" if "injected-parameters" in tags else None
    source_cell = mlops.get("source_cell")
    return source_cell, None if source_cell is not None else failed_part(cell)


def _failed_cell(executed: Any, index: int | None) -> tuple[int | None, str | None]:
    """Map papermill's cell index (in the notebook it executed) back to its origin.

    papermill inserts error-marker cells into the executed notebook after the failure:
    they are skipped, so indices are those of the notebook it ran."""
    cells = [c for c in executed.cells if ERROR_MARKER not in c.metadata.get("tags", [])]
    if index is None or not 0 <= index < len(cells):
        return None, None
    return _origin(cells[index])


def _unfinished(executed: Any) -> StepError | None:
    """A step that papermill ran "successfully" but that stopped early: ``sys.exit(0)``
    (which papermill accepts) or anything else that kept the last (save) cell from running."""
    for cell in executed.cells:
        exited = any(
            o.get("output_type") == "error" and o.get("ename") == "SystemExit"
            for o in cell.get("outputs", [])
        )
        if exited or cell.get("metadata", {}).get("papermill", {}).get("exception"):
            cell_index, generated = _origin(cell)
            return StepError(cell_index, "SystemExit", SYSTEM_EXIT, generated)
    last = executed.cells[-1] if executed.cells else {}
    if last.get("metadata", {}).get("papermill", {}).get("status") not in (None, "completed"):
        return StepError(None, "StepIncomplete", "the step stopped before its outputs were saved")
    return None


def _last_started(nb: dict[str, Any], running: int | None) -> dict[str, Any] | None:
    """The cell that was executing when the kernel went away: ``running`` (an index) when
    known, else the last cell papermill started."""
    cells = nb.get("cells", [])
    if running is not None and 0 <= running < len(cells):
        return cells[running]
    started = [c for c in cells if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    return started[-1] if started else None


def _running_cell(output_path: Path, running: int | None) -> tuple[int | None, str | None]:
    """The origin of the cell that was executing when the kernel went away."""
    try:
        nb = json.loads(output_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    cell = _last_started(nb, running)
    return (None, None) if cell is None else _origin(cell)


def _mark_error(output_path: Path, error: StepError, running: int | None) -> None:
    """Record a kernel-level failure in the executed notebook, like papermill does for cells."""
    try:
        nb = json.loads(output_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    cell = _last_started(nb, running)
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
