"""``verify``: does the pipeline compute what the notebook computes?

The notebook runs top to bottom in one kernel (a temporary copy: the parameters injected
after its parameters cell, and capture cells that save the values each step reads, before
the step's first cell, and produces, after its last cell). The pipeline runs with isolated
steps (a fresh kernel per step, no cache) into a temporary store. Both run at once when the
machine has two cores or more. Then every step's inputs and outputs and every metric are
compared in notebook order (digests first; values, numpy/pandas-aware with a float
tolerance, when the bytes differ), and the first difference is explained
(:mod:`.verify_causes`). Nothing of the user's notebook or store is changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..compiler.pipeline import Pipeline, Step
from .literals import assignments
from .secrets import scrub_text, secret_names

DEFAULT_TOLERANCE = 1e-9


@dataclass
class _Outcome:
    seconds: float = 0.0
    error: str | None = None
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    status: str = ""  # the pipeline run's
    slot: Any = None  # the notebook's kernel, while it runs


def _order(pipeline: Pipeline) -> list[Step]:
    """Steps in notebook order (the order the notebook computed them)."""
    return sorted(pipeline.steps, key=lambda s: min(s.cells) if s.cells else 0)


def _outputs(pipeline: Pipeline, step: Step) -> list[str]:
    names = list(step.outputs)
    model = pipeline.model
    if model and model["step"] == step.name and model["variable"] not in names:
        names.append(model["variable"])
    return sorted(names)


def compared_names(pipeline: Pipeline, step: Step) -> list[str]:
    """What is compared at the end of a step: its outputs and every other name it defines
    (a last step's results too)."""
    return sorted(set(_outputs(pipeline, step)) | set(step.defines))


def with_captures(pipeline: Pipeline, tmp: Path) -> Pipeline:
    """The pipeline whose steps end by saving the names they define beyond their outputs
    (outputs are in the steps' manifests already), as the notebook run does."""
    extra: dict[str, Step] = {}
    for k, step in enumerate(_order(pipeline)):
        names = [n for n in compared_names(pipeline, step) if n not in _outputs(pipeline, step)]
        if names and step.cells:
            source = _capture(f"pipe-{k}", names, [], tmp)
            extra[step.name] = replace(step, cells=[*step.cells, max(step.cells)],
                                       sources=[*step.sources, source])  # fmt: skip
    return replace(pipeline, steps=[extra.get(s.name, s) for s in pipeline.steps])


def _metrics_of(pipeline: Pipeline, step: Step) -> list[str]:
    return [m for m, s in pipeline.metric_steps.items() if s == step.name]


def _code_cell(source: str, source_cell: int | None, tags: list[str], generated: str | None):
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = tags
    cell.metadata["mlops"] = {"source_cell": source_cell}
    if generated:
        cell.metadata["mlops"]["generated"] = generated
    return cell


def _capture(label: str, names: list[str], metrics: list[str], tmp: Path) -> str:
    out = str(tmp / "captures" / f"{label}.json")
    return (
        "from _jupyter_mlops_kernel.kernel_capture import capture as _mlops_capture\n"
        f"_mlops_capture(None, {label!r}, {names!r}, {metrics!r}, "
        f"{str(tmp / 'artifacts')!r}, {out!r})"
    )


def capture_notebook(pipeline: Pipeline, resolved: dict[str, Any], tmp: Path) -> Any:
    """The notebook to run top to bottom: the user's code cells with the parameters and the
    capture cells added (cell metadata ``mlops.source_cell`` maps back to the notebook)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    metadata = pipeline.nb.get("metadata", {})
    for key in ("kernelspec", "language_info"):
        if key in metadata:
            nb.metadata[key] = json.loads(json.dumps(metadata[key]))
    before: dict[int, list[str]] = {}
    after: dict[int, list[str]] = {}
    for k, step in enumerate(_order(pipeline)):
        if not step.cells:
            continue
        if step.inputs:
            names = sorted(step.inputs)
            before.setdefault(min(step.cells), []).append(_capture(f"start-{k}", names, [], tmp))
        after.setdefault(max(step.cells), []).append(
            _capture(f"end-{k}", compared_names(pipeline, step), _metrics_of(pipeline, step), tmp)
        )
    for index, raw in enumerate(pipeline.nb["cells"]):
        if raw.get("cell_type") != "code":
            continue
        for source in before.get(index, []):
            nb.cells.append(_code_cell(source, None, [], "capture"))
        text = raw.get("source", "")
        text = text if isinstance(text, str) else "".join(text)
        tags = list((raw.get("metadata") or {}).get("tags", []))
        nb.cells.append(_code_cell(text, index, tags, None))
        if index == pipeline.parameters_cell and resolved:
            lines = ["# Parameters", *assignments(resolved)]
            nb.cells.append(_code_cell("\n".join(lines), None, ["injected-parameters"],
                                       "injected-parameters"))  # fmt: skip
        for source in after.get(index, []):
            nb.cells.append(_code_cell(source, None, [], "capture"))
    return nb


def _run_notebook(pipeline: Pipeline, nb: Any, cwd: Path, tmp: Path, out: _Outcome) -> None:
    """Run the capture notebook in one kernel (a worker thread may call this)."""
    from jupyter_core.utils import ensure_event_loop

    from .execute import execute_step_notebook
    from .kernels import KernelSlot

    started = time.monotonic()
    slot = KernelSlot(0, pipeline.kernel, str(cwd), tmp / "notebook-kernel.log",
                      str(tmp / "ipc" / "nb"))  # fmt: skip
    out.slot = slot
    try:
        error = execute_step_notebook(
            slot, nb, tmp / "notebook.ipynb", tmp / "notebook.log", None, threading.Event()
        )
        if error is not None:
            where = f"cell {error.cell + 1}" if error.cell is not None else "a capture cell"
            out.error = f"the notebook failed at {where}: {error.ename}: {error.evalue}"
    except Exception as exc:  # noqa: BLE001 - a kernel that cannot start, ZMQ errors
        out.error = f"the notebook could not run: {type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            slot.shutdown()
        out.seconds = time.monotonic() - started
        loop = ensure_event_loop()
        if threading.current_thread() is not threading.main_thread() and not loop.is_running():
            with contextlib.suppress(Exception):
                loop.close()


def _run_pipeline(prepared: Any, pipeline: Pipeline, store: Path, out: _Outcome) -> None:
    """Run ``pipeline`` (the compiled one, with capture cells) like ``run --isolate
    --no-cache`` into the temporary ``store``."""
    from ..settings import prepare_store
    from .record import public_record
    from .run import _execute, file_sha256
    from .store import Store

    started = time.monotonic()
    notebook = prepared.notebook
    db = Store.open(prepare_store(store))
    try:
        run_id = db.create_run(str(notebook), file_sha256(notebook),
                               prepared.recorded_parameters(), [s.name for s in pipeline.steps],
                               prepared.recorded_options())  # fmt: skip
        _execute(db, run_id, pipeline, prepared.resolved, prepared.options, None)
        record = public_record(db.get_run(run_id))
        run_dir = db.run_dir(run_id)
    finally:
        db.close()
        out.seconds = time.monotonic() - started
    for name, step in record["steps"].items():
        manifest = run_dir / f"{name}.manifest.json"
        if manifest.is_file():
            out.manifests[name] = json.loads(manifest.read_text(encoding="utf-8"))
        if step["status"] == "failed" and out.error is None:
            error = step.get("error") or {}
            cell = error.get("cell")
            where = f", cell {cell + 1}" if cell is not None else ""
            out.error = (f"the pipeline failed in step {name!r}{where}: {error.get('ename')}: "
                         f"{error.get('evalue')}")  # fmt: skip
    out.metrics = record.get("metrics") or {}
    out.status = record["status"]
    if record["status"] != "succeeded" and out.error is None:
        out.error = f"the pipeline run ended {record['status']}"


def _import_runners() -> None:
    import jupyter_client.manager  # noqa: F401
    import papermill  # noqa: F401

    from . import engine, execute, kernels  # noqa: F401


def verify_notebook(
    notebook: Path,
    parameters: dict[str, Any] | None = None,
    *,
    parameter_texts: list[tuple[str, str]] | None = None,
    tolerance: float | None = None,
    jobs: int | None = None,
) -> dict[str, Any]:
    """Verify ``notebook`` (see the module docstring); returns the V contract's object:
    ``{"equal", "message", "difference", "compared", "seconds"}``."""
    from .run import prepare_run

    wall = time.monotonic()
    tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    prepared = prepare_run(notebook, parameters, parameter_texts=parameter_texts, jobs=jobs,
                           use_cache=False, isolate=True)  # fmt: skip
    pipeline, resolved = prepared.pipeline, prepared.resolved
    tmp = Path(tempfile.mkdtemp(prefix="jupyter-mlops-verify-"))
    try:
        for sub in ("captures", "artifacts", "ipc"):
            (tmp / sub).mkdir(mode=0o700)
        nb = capture_notebook(pipeline, resolved, tmp)
        piped = with_captures(pipeline, tmp)
        nb_out, pipe_out = _Outcome(), _Outcome()
        cwd = prepared.notebook.parent
        if (os.cpu_count() or 1) >= 2:
            _import_runners()  # before the threads: concurrent first imports can deadlock
            worker = threading.Thread(
                target=_run_notebook, args=(pipeline, nb, cwd, tmp, nb_out), daemon=True
            )
            worker.start()
            try:
                _run_pipeline(prepared, piped, tmp / "store", pipe_out)
            finally:
                if pipe_out.status in ("", "cancelled") and nb_out.slot is not None:
                    nb_out.slot.kill()  # Ctrl-C/SIGTERM (or a crash): stop the notebook too
                worker.join()
        else:
            _run_notebook(pipeline, nb, cwd, tmp, nb_out)
            _run_pipeline(prepared, piped, tmp / "store", pipe_out)
        hidden = secret_names(pipeline.parameters)
        secrets = [str(v) for k, v in resolved.items() if k in hidden]
        if pipe_out.status == "cancelled":
            from ..errors import Cancelled

            raise Cancelled("verify cancelled")
        from .verify_compare import compare_runs

        result = compare_runs(pipeline, tmp, nb_out, pipe_out, tol)
        if secrets:  # values shown in the answer never show a secret
            result["message"] = scrub_text(result["message"], secrets)
            for key, value in (result["difference"] or {}).items():
                result["difference"][key] = scrub_text(value, secrets)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["seconds"] = {
        "notebook": round(nb_out.seconds, 3),
        "pipeline": round(pipe_out.seconds, 3),
        "wall": round(time.monotonic() - wall, 3),
    }
    return result
