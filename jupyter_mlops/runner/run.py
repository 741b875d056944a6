"""``run_pipeline``: compile, resolve parameters, schedule, record, report."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..compiler.pipeline import Pipeline
from ..errors import InvalidInput
from ..gitinfo import git_info
from ..settings import prepare_store, resolve_store
from .events import EventRecorder
from .executors import ExecutorSpec, resolve_executor, scheduler_class
from .kernelspec import check_kernel
from .params import read_parameter_file, resolve_parameters
from .record import public_record
from .scheduler import Event, Options, Scheduler
from .secrets import from_environment, redacted, secret_names
from .store import Store, utcnow


@dataclass
class Run:
    """A finished (or cancelled) run: its id, store and record."""

    id: str
    store: Path
    record: dict[str, Any]

    @property
    def status(self) -> str:
        return self.record["status"]

    def to_dict(self) -> dict[str, Any]:
        """The public run record: exactly what ``jupyter mlops run --json`` prints."""
        return public_record(self.record)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def _cancel_on_signals(scheduler: Scheduler) -> Iterator[None]:
    """While a run is active, SIGINT (Ctrl-C) and SIGTERM cancel it instead of killing us."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _cancel(signum: int, frame: Any) -> None:
        scheduler.request_cancel()

    previous = {sig: signal.signal(sig, _cancel) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class Prepared:
    """A validated run request: the compiled pipeline, resolved parameters and options."""

    notebook: Path
    pipeline: Any
    resolved: dict[str, Any]
    options: Options

    def recorded_options(self) -> dict[str, Any]:
        """The run's ``options`` column."""
        return {
            "jobs": self.options.jobs,
            "cache": self.options.use_cache,
            "isolate": self.options.isolate,
            "step_timeout": self.options.step_timeout,
            "refresh": list(self.options.refresh),
            **({"executor": self.options.executor.recorded()} if self.options.executor else {}),
        }

    def recorded_parameters(self) -> dict[str, Any]:
        return redacted(self.resolved, secret_names(self.pipeline.parameters))


def prepare_run(
    path: str | os.PathLike[str],
    parameters: dict[str, Any] | None = None,
    *,
    parameter_texts: list[tuple[str, str]] | None = None,
    parameter_file: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    use_cache: bool = True,
    isolate: bool = False,
    step_timeout: float | None = None,
    refresh: list[str] | None = None,
    executor: Any = None,
    pipeline: Pipeline | None = None,
) -> Prepared:
    """Compile the notebook (unless the caller just did: ``pipeline``) and check the
    parameters and options; writes nothing.

    Raises :class:`~jupyter_mlops.errors.InvalidInput` naming what is wrong."""
    from ..compiler import compile_notebook

    notebook = Path(path).resolve()
    if pipeline is None:
        pipeline = compile_notebook(str(notebook))
    values = dict(read_parameter_file(parameter_file)) if parameter_file else {}
    values.update(parameters or {})
    resolved = resolve_parameters(pipeline.parameters, values, parameter_texts)
    from_environment(pipeline.parameters, resolved)  # secret:NAME given as env:VAR
    check_kernel(pipeline.kernel, notebook.name)
    if jobs is not None and jobs < 1:
        raise InvalidInput(f"--jobs must be at least 1, got {jobs}")
    if step_timeout is not None and not 0 < step_timeout <= threading.TIMEOUT_MAX:
        raise InvalidInput(
            f"--step-timeout must be a number of seconds > 0 and at most "
            f"{threading.TIMEOUT_MAX:.0f}, got {step_timeout}"
        )
    names = [s.name for s in pipeline.steps]
    for name in refresh or []:
        if name not in names:
            raise InvalidInput(
                f"--refresh {name}: {notebook.name} has no step {name!r} (steps: {', '.join(names)})"
            )
    if executor is None:  # $JUPYTER_MLOPS_EXECUTOR and friends (the server's settings)
        executor = resolve_executor()
    if executor.local:
        executor = None
    options = Options(
        jobs=jobs or (len(names) if executor else os.cpu_count()) or 1,
        use_cache=use_cache,
        isolate=isolate,
        step_timeout=step_timeout,
        cwd=str(notebook.parent),
        refresh=tuple(refresh or ()),
        executor=executor,
    )
    return Prepared(notebook, pipeline, resolved, options)


def run_pipeline(
    path: str | os.PathLike[str],
    parameters: dict[str, Any] | None = None,
    *,
    parameter_texts: list[tuple[str, str]] | None = None,
    parameter_file: str | os.PathLike[str] | None = None,
    store: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    use_cache: bool = True,
    isolate: bool = False,
    step_timeout: float | None = None,
    report: str = "background",
    on_event: Event | None = None,
    refresh: list[str] | None = None,
    executor: Any = None,
    pipeline: Pipeline | None = None,
) -> Run:
    """Run the pipeline of the notebook at ``path`` and return the run.

    ``parameters`` are values (checked against the declared types); ``parameter_texts``
    are ``(name, text)`` pairs from a command line (converted); ``parameter_file`` is a
    JSON/YAML mapping applied before both. ``report`` is ``"background"`` (write the HTML
    report in a detached process), ``"sync"`` or ``"none"``. Raises
    :class:`~jupyter_mlops.errors.InvalidInput` for an invalid notebook or parameter.
    Ctrl-C or SIGTERM during the run cancels it: kernels are shut down and the returned
    run has status ``cancelled``. ``refresh`` names steps to re-run (with their dependents)
    even when cached. ``pipeline``: the notebook's compiled pipeline when the caller has
    it already (it is not compiled again).
    """
    prepared = prepare_run(
        path, parameters, parameter_texts=parameter_texts, parameter_file=parameter_file,
        jobs=jobs, use_cache=use_cache, isolate=isolate, step_timeout=step_timeout,
        refresh=refresh, executor=executor, pipeline=pipeline,
    )  # fmt: skip
    notebook = prepared.notebook
    if prepared.options.executor is not None:  # reach the cluster before recording a run
        from .executors.dask import open_executor

        open_executor(prepared.options.executor)
    db = Store.open(prepare_store(resolve_store(store, start=notebook.parent)))
    try:
        db.reap_dead()  # runs whose process died: recorded as interrupted, kernels stopped
        run_id = db.create_run(
            str(notebook),
            file_sha256(notebook),
            prepared.recorded_parameters(),
            [s.name for s in prepared.pipeline.steps],
            prepared.recorded_options(),
            git=git_info(str(notebook)),
        )
        status = _execute(db, run_id, prepared.pipeline, prepared.resolved, prepared.options,
                          on_event)  # fmt: skip
        if report != "none" and status != "cancelled":
            write_report(db.root, run_id, background=report == "background")
        record = db.get_run(run_id)
    finally:
        db.close()
    return Run(run_id, db.root, record)


def queue_run(
    prepared: Prepared,
    store: str | os.PathLike[str] | None,
    request: dict[str, Any],
    origin: str = "server",
) -> tuple[str, Path]:
    """Record a validated run as ``queued`` for a run process to start later
    (:func:`run_queued`); ``request`` (raw parameters, publish settings) is kept in the
    run's folder until then. Returns the run id and the store folder."""
    notebook = prepared.notebook
    with Store.open(prepare_store(resolve_store(store, start=notebook.parent))) as db:
        run_id = db.queue_run(
            str(notebook),
            file_sha256(notebook),
            prepared.recorded_parameters(),
            [s.name for s in prepared.pipeline.steps],
            {**prepared.recorded_options(), "origin": origin},
            git=git_info(str(notebook)),
            request=request,
        )
        return run_id, db.root


def run_queued(
    store: str | os.PathLike[str], run_id: str, report: str = "sync"
) -> tuple[Run, dict[str, Any]] | None:
    """Run a queued run in this process (see :func:`queue_run`); None if it is no longer
    queued (cancelled, or another process took it). Returns the run and its request."""
    from ..errors import MlopsError

    db = Store.open(store)
    try:
        if not db.claim_run(run_id):
            return None
        request = db.take_request(run_id)
        options = db.get_run(run_id)["options"]
        try:
            prepared = prepare_run(
                db.run_notebook(run_id) or "", request.get("parameters") or {},
                jobs=options.get("jobs"), use_cache=options.get("cache", True),
                isolate=options.get("isolate", False), step_timeout=options.get("step_timeout"),
                executor=ExecutorSpec.from_recorded(options.get("executor")),
            )  # fmt: skip
            if prepared.options.executor is not None:  # e.g. the Dask scheduler is down
                from .executors.dask import open_executor

                open_executor(prepared.options.executor)
        except MlopsError as exc:  # the notebook changed since the run was queued, no cluster
            message = "; ".join(exc.messages)
            db.settle_run(run_id, "failed", f"the run could not start: {message}")
            return Run(run_id, db.root, db.get_run(run_id)), request
        status = _execute(db, run_id, prepared.pipeline, prepared.resolved, prepared.options,
                          None)  # fmt: skip
        if report != "none" and status != "cancelled":
            write_report(db.root, run_id, background=report == "background")
        return Run(run_id, db.root, db.get_run(run_id)), request
    finally:
        db.close()


def _execute(
    db: Store,
    run_id: str,
    pipeline: Any,
    resolved: dict[str, Any],
    options: Options,
    on_event: Event | None,
) -> str:
    """Schedule the run's steps and record how it ended; returns the final status.

    Every state change and the steps' output are appended to the store's event log."""
    hidden = secret_names(pipeline.parameters)
    secrets = [v for k, v in resolved.items() if k in hidden]
    recorder = EventRecorder(db, run_id, on_event, secrets)
    events: Event = recorder
    started = time.monotonic()
    status = "failed"
    scheduler: Scheduler | None = None
    try:
        db.update_run(run_id, status="running", started_at=utcnow())
        events("run", run_id, {"status": "running"})
        scheduler = scheduler_class(options.executor)(
            pipeline, resolved, db, run_id, options, recorder
        )
        with _cancel_on_signals(scheduler):
            scheduler.run()
        if scheduler.cancelled.is_set():
            status = "cancelled"
        elif all(s.status in ("succeeded", "cached") for s in scheduler.states.values()):
            status = "succeeded"
    finally:
        try:
            if scheduler is not None:
                _finalize(db, run_id, pipeline, scheduler, status, time.monotonic() - started)
            else:  # no step ever started
                for step in pipeline.steps:
                    db.update_step(run_id, step.name, status="skipped")
                db.update_run(run_id, status=status, finished_at=utcnow())
            recorder.close()
            error = getattr(scheduler, "run_error", None)  # e.g. the Dask scheduler was lost
            events("run", run_id, {"status": status, **({"error": error} if error else {})})
        finally:
            db.release_run(run_id)
    return status


def _finalize(
    db: Store, run_id: str, pipeline: Any, scheduler: Scheduler, status: str, duration: float
) -> None:
    """Record metrics, model, example and environment from the steps' manifests."""
    metrics: dict[str, Any] = {}
    for metric, step in pipeline.metric_steps.items():
        manifest = scheduler.states[step].manifest
        if manifest and metric in manifest.get("metrics", {}):
            metrics[metric] = manifest["metrics"][metric]
    model = example = environment = None
    if pipeline.model:
        manifest = scheduler.states[pipeline.model["step"]].manifest
        entry = (manifest or {}).get("outputs", {}).get(pipeline.model["variable"])
        if entry is not None:
            model = {**pipeline.model, "artifact": entry["path"], "type": entry["type"]}
        environment = (manifest or {}).get("environment")
    if pipeline.example:
        manifest = scheduler.states[pipeline.example["step"]].manifest
        entry = (manifest or {}).get("example")
        if entry is not None:
            example = {**pipeline.example, "artifact": entry["path"], "type": entry["type"]}
    _settle_steps(db, run_id, status, scheduler)
    db.update_run(
        run_id,
        status=status,
        finished_at=utcnow(),
        duration_s=round(duration, 3),
        metrics=metrics,
        model=model,
        example=example,
        environment=environment,
        **({"error": scheduler.run_error} if getattr(scheduler, "run_error", None) else {}),
    )


def _settle_steps(db: Store, run_id: str, status: str, scheduler: Scheduler) -> None:
    """The invariant of a finished run: no step is left queued or running, whatever ended
    the run (a failure, a cancel, an exception in the scheduler or in an event callback).
    Queued steps become skipped; running ones failed."""
    error = {
        "cell": None,
        "ename": "Cancelled" if status == "cancelled" else "RunEnded",
        "evalue": f"the run ended ({status}) while this step was running",
        "generated": None,
    }
    for name, step in db.get_run(run_id)["steps"].items():
        fields: dict[str, Any] = {}
        if step["status"] == "queued":
            fields = {"status": "skipped"}
        elif step["status"] == "running":
            fields = {"status": "failed", "finished_at": utcnow(), "error": error}
        if fields:
            # the store is written before listeners hear of it; a failing listener is ignored
            with contextlib.suppress(Exception):
                scheduler.record_step(name, fields.pop("status"), **fields)


def write_report(store: Path, run_id: str, background: bool) -> None:
    """Write ``runs/<id>/report.html``, now or in a detached, lower-priority process."""
    if not background:
        from .report import write_report as write_now

        write_now(store, run_id)
        return
    # the child lowers its own priority (--nice): no preexec_fn, which is unsafe in threads
    subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "jupyter_mlops.runner.report", str(store), run_id, "--nice"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(
                    None, [os.environ.get("PYTHONPATH"), str(Path(__file__).resolve().parents[2])]
                )
            ),
        },
    )
