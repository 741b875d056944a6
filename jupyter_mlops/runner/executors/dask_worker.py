"""What runs on a Dask worker: one step of a run, in a warm Jupyter kernel, via papermill.

:func:`run_step` is the task the Dask executor submits. It fetches the step's inputs from
the shared artifact store (digests checked), builds the step notebook (the local runner's,
with this worker's paths), executes it with papermill in a kernel that this worker keeps
for the run (reused by the run's next steps here, like the local runner's kernels), uploads
the outputs and returns the executed notebook, the log and the manifest. The worker never
touches the submitting machine's SQLite store.

Kernels of a run are shut down when the client says the run ended (:func:`release_run`),
when a task of the run is cancelled or its client disappears (the task's state on this
worker says so), and after ``JUPYTER_MLOPS_DASK_IDLE_KERNEL_S`` seconds unused (default 120).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IDLE_SECONDS = float(os.environ.get("JUPYTER_MLOPS_DASK_IDLE_KERNEL_S", "120"))


class WorkerLost(Exception):
    """An attempt of a step started on a worker that left the cluster (Dask re-ran it)."""


@dataclass
class StepTask:
    """Everything a worker needs to run one step once (sent with the task)."""

    run_id: str
    attempt: int
    pipeline: Any
    step: str
    parameters: dict[str, Any]  # the step's parameters, secrets shown as <secret>
    secrets: dict[str, Any]  # secret values (written to a private file for the kernel)
    inputs: dict[str, dict[str, Any]]  # variable -> manifest entry (digest, size, ...)
    outputs: list[str]
    consumers: dict[str, list[str]]
    metrics: list[str]
    example: str | None
    environment: bool
    artifacts: str  # the shared store's URL
    cwd: str
    reads: list[str]
    not_data: list[str]
    timeout: float | None
    claim: str  # the task's key; also names the Dask variable marking that it started
    isolate: bool = False  # a fresh kernel, stopped after the step


@dataclass
class _Pooled:
    slot: Any
    idle_since: float = field(default_factory=time.monotonic)


class _Pool:
    """Warm kernels of each run on this worker."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, list[_Pooled]] = {}
        self.secrets: dict[str, list[Any]] = {}  # run -> secret values its kernels here saw
        self.count = 0
        self.ipc = tempfile.mkdtemp(prefix="jupyter-mlops-w-")
        self._reaper: threading.Thread | None = None

    def acquire(
        self, run_id: str, kernel: str, cwd: str, log: Path, digests: set[str], fresh: bool
    ) -> Any:
        from ..kernels import KernelSlot

        with self.lock:
            idle = [
                p
                for p in self.runs.get(run_id, [])
                if not p.slot.busy
                and not p.slot.killed
                and p.slot.kernel_name == kernel
                and p.slot.cwd == cwd
                and not fresh
            ]
            if idle:
                best = max(idle, key=lambda p: len(digests & set(p.slot.holds.values())))
                best.slot.busy = True
                return best.slot
            self.count += 1
            slot = KernelSlot(
                self.count, kernel, cwd, log, os.path.join(self.ipc, f"k{self.count}")
            )
            slot.busy = True
            self.runs.setdefault(run_id, []).append(_Pooled(slot))
            self._start_reaper()
            return slot

    def prestart(self, run_id: str, kernel: str, cwd: str, log: Path) -> None:
        """Start a kernel for the run in the background (a start costs about a second)."""
        from ..kernels import KernelSlot

        with self.lock:
            if self.runs.get(run_id):
                return
            self.count += 1
            slot = KernelSlot(
                self.count, kernel, cwd, log, os.path.join(self.ipc, f"k{self.count}")
            )
            self.runs[run_id] = [_Pooled(slot)]
            self._start_reaper()

        def start() -> None:
            with contextlib.suppress(Exception):  # the step that needs it retries
                import papermill  # noqa: F401 - imported here, ahead of the first step

                from .. import engine  # noqa: F401

                slot.start()

        threading.Thread(target=start, name="mlops-prestart", daemon=True).start()

    def release(self, run_id: str, slot: Any) -> None:
        with self.lock:
            slot.busy = False
            for pooled in self.runs.get(run_id, []):
                if pooled.slot is slot:
                    pooled.idle_since = time.monotonic()
            broken = not slot.is_alive()
        if broken:
            self._drop(run_id, [slot])

    def close_run(self, run_id: str, idle_only: bool = False) -> int:
        with self.lock:
            pooled = self.runs.get(run_id, [])
            chosen = [p.slot for p in pooled if not (idle_only and p.slot.busy)]
        self._drop(run_id, chosen)
        return len(chosen)

    def remember_secrets(self, run_id: str, values: list[Any]) -> list[Any]:
        """Add a task's secret values to its run's; returns all the run's values here (a
        warm kernel keeps what an earlier step read: any step of the run may print it)."""
        with self.lock:
            known = self.secrets.setdefault(run_id, [])
            known += [v for v in values if v not in known]
            return list(known)

    def _drop(self, run_id: str, slots: list[Any]) -> None:
        with self.lock:
            kept = [p for p in self.runs.get(run_id, []) if p.slot not in slots]
            if kept:
                self.runs[run_id] = kept
            else:
                self.runs.pop(run_id, None)
                self.secrets.pop(run_id, None)
        for slot in slots:
            with contextlib.suppress(Exception):
                if slot.busy:
                    slot.kill()
                slot.shutdown()

    def _start_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="mlops-reaper", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        while True:
            time.sleep(min(5.0, max(0.5, IDLE_SECONDS / 4)))
            now = time.monotonic()
            with self.lock:
                stale = {
                    run: [p.slot for p in pooled if not p.slot.busy]
                    for run, pooled in self.runs.items()
                    if all(not p.slot.busy and now - p.idle_since > IDLE_SECONDS for p in pooled)
                }
            for run, slots in stale.items():
                self._drop(run, slots)


_POOL: _Pool | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> _Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = _Pool()
        return _POOL


def release_run(run_id: str, dask_worker: Any = None) -> int:
    """Shut down the run's kernels on this worker and remove its folder here (kernel logs)
    (``client.run`` at the end of a run)."""
    import shutil

    closed = _pool().close_run(run_id) if _POOL is not None else 0
    if dask_worker is not None:
        shutil.rmtree(_base(dask_worker) / "runs" / run_id, ignore_errors=True)
    return closed


def kernels_by_run() -> dict[str, int]:
    """How many kernels this worker keeps for each run (``client.run``, for diagnostics)."""
    if _POOL is None:
        return {}
    with _POOL.lock:
        return {run: len(pooled) for run, pooled in _POOL.runs.items()}


def prestart(run_id: str, kernel: str, cwd: str, dask_worker: Any = None) -> None:
    """Warm a kernel for the run on this worker (``client.run`` when a Dask run starts)."""
    from ...serialization import private_dir

    run_dir = private_dir(_base(dask_worker) / "runs" / run_id)
    _pool().prestart(
        run_id, kernel, cwd if os.path.isdir(cwd) else str(run_dir), run_dir / "kernel-0.log"
    )


def _base(worker: Any) -> Path:
    from ...serialization import private_dir

    return private_dir(Path(worker.local_directory) / "jupyter-mlops")


def worker_environment(kernel: str, dask_worker: Any = None) -> dict[str, Any]:
    """This worker's kernel environment: its fingerprint (as in cache keys), Python version
    and distributions (``client.run`` when a Dask run starts)."""
    from ..kernelenv import fingerprint

    cache = _base(dask_worker) / "kernel-envs"
    value = fingerprint(kernel, cache)
    record: dict[str, Any] = {}
    for path in cache.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("fingerprint") == value:
                record = data
                break
    return {
        "fingerprint": value,
        "python": record.get("python"),
        "distributions": record.get("distributions", []),
    }


def _claim(task: StepTask, address: str) -> None:
    """Refuse to run an attempt twice: Dask silently re-runs a task whose worker died; the
    re-run fails at once instead, so the executor retries it openly and records it."""
    from distributed import Variable

    variable = Variable(task.claim)
    try:
        first = variable.get(timeout=0)
    except TimeoutError:
        variable.set(address)
        return
    raise WorkerLost(f"worker {first} left the cluster while it ran the step")


def _watch(worker: Any, key: str, slot: Any, cancelled: threading.Event, done: threading.Event):
    """Kill the kernel when the task is cancelled or its client disappears."""

    def watch() -> None:
        while not done.wait(0.2):
            ts = worker.state.tasks.get(key)
            if ts is None or ts.state in ("cancelled", "released", "forgotten"):
                cancelled.set()
                slot.kill()
                return

    thread = threading.Thread(target=watch, name="mlops-watch", daemon=True)
    thread.start()
    return thread


def output_topic(run_id: str) -> str:
    """The Dask event topic on which a run's steps stream their output."""
    return f"jupyter-mlops-output-{run_id}"


def _stream(
    worker: Any, task: StepTask, log: Path, done: threading.Event, secrets: list[Any]
) -> None:
    """Send what the step prints to the client while it runs (Dask events), whole lines
    only, each secret value of the run shown as ``<secret>`` (the scheduler keeps events)."""
    import codecs

    from ..secrets import scrub_text

    def tail() -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        offset, partial = 0, ""
        while not done.wait(0.3):
            try:
                with open(log, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read(256 * 1024)
            except OSError:
                continue
            offset += len(data)
            text = partial + decoder.decode(data)
            cut = text.rfind("\n") + 1 if len(text) < 256 * 1024 else len(text)
            text, partial = text[:cut], text[cut:]
            if text and secrets:
                text = scrub_text(text, secrets)
            if text:
                with contextlib.suppress(Exception):
                    worker.log_event(
                        output_topic(task.run_id),
                        {"step": task.step, "attempt": task.attempt, "text": text},
                    )

    threading.Thread(target=tail, name="mlops-output", daemon=True).start()


def _read(path: Path, secrets: list[Any]) -> str | None:
    """The file's text, secret values shown as ``<secret>``."""
    from ..secrets import scrub_text

    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    return scrub_text(text, secrets) if secrets else text


def _scrub_kernel_log(path: Path, secrets: list[Any]) -> None:
    """Replace the secret values in a kernel's own log (stdout/stderr of its process), in
    place: the kernel keeps appending to the same file."""
    from ..secrets import scrub_text

    with contextlib.suppress(OSError, UnicodeDecodeError), open(path, "r+b") as fh:
        text = fh.read().decode("utf-8")
        clean = scrub_text(text, secrets)
        if clean != text:
            fh.seek(0)
            fh.write(clean.encode("utf-8"))
            fh.truncate()


def run_step(task: StepTask) -> dict[str, Any]:
    """The Dask task: run one step here; the result is plain data (see module doc)."""
    from distributed import get_worker
    from distributed.worker import thread_state

    from ...serialization import failure, private_dir, wait_for
    from ..artifact_store import SharedArtifacts
    from ..execute import StepError, execute_step_notebook
    from ..secrets import scrub_text, write_secrets_file
    from ..stepnb import StepPlan, build_step_notebook

    worker = get_worker()
    key = getattr(thread_state, "key", None)
    _claim(task, worker.address)
    started = time.time()
    base = _base(worker)
    artifacts = private_dir(base / "artifacts")
    run_dir = private_dir(base / "runs" / task.run_id)
    shared = SharedArtifacts(task.artifacts)
    result: dict[str, Any] = {"worker": worker.address, "started": started}
    inputs: dict[str, tuple[str, str]] = {}
    try:
        for var, entry in task.inputs.items():
            path = shared.get(entry["digest"], artifacts, entry.get("size"))
            inputs[var] = (entry["digest"], str(path))
    except Exception as exc:  # noqa: BLE001 - missing or corrupt input: the step fails
        error = StepError(None, type(exc).__name__, f"input: {exc}", "inputs")
        return {**result, "error": error.to_dict()}
    pipeline = task.pipeline
    step = pipeline.step(task.step)
    cwd = task.cwd if os.path.isdir(task.cwd) else str(run_dir)
    pool = _pool()
    digests = {e["digest"] for e in task.inputs.values()}
    slot = pool.acquire(
        task.run_id,
        pipeline.kernel,
        cwd,
        run_dir / f"kernel-{pool.count + 1}.log",
        digests,
        task.isolate,
    )
    result["kernel"] = f"kernel-{slot.index}"
    manifest_path = run_dir / f"{task.step}.{task.attempt}.manifest.json"
    notebook_path = run_dir / f"{task.step}.{task.attempt}.ipynb"
    log_path = run_dir / f"{task.step}.{task.attempt}.log"
    plan = StepPlan(
        step=step,
        parameters=task.parameters,
        inputs=inputs,
        outputs=task.outputs,
        consumers=task.consumers,
        metrics=task.metrics,
        example=task.example,
        environment=task.environment,
        artifacts=str(artifacts),
        manifest=str(manifest_path),
        secrets=write_secrets_file(pool.ipc, task.step, task.secrets) if task.secrets else None,
        watch=(task.cwd, [*task.not_data, str(base), pool.ipc], task.reads),
    )
    secrets = pool.remember_secrets(task.run_id, list(task.secrets.values()))
    cancelled, done = threading.Event(), threading.Event()
    if key is not None:
        _watch(worker, key, slot, cancelled, done)
    _stream(worker, task, log_path, done, secrets)
    try:
        nb = build_step_notebook(pipeline, plan)
        error = execute_step_notebook(slot, nb, notebook_path, log_path, task.timeout, cancelled)
        manifest = None
        if error is None:
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                error = StepError(
                    None, "StepIncomplete",
                    f"the step ended without saving its outputs ({type(exc).__name__})",
                    "outputs",
                )  # fmt: skip
        if manifest is not None:
            entries = list(manifest.get("outputs", {}).values())
            if manifest.get("example"):
                entries.append(manifest["example"])
            for entry in entries:
                if entry.pop("pending", False) and not wait_for(entry["path"], slot.is_alive):
                    reason = failure(entry["path"]) or "its kernel stopped"
                    error = StepError(
                        None, "OutputNotSaved", f"an output was not saved ({reason})", "outputs"
                    )
                    break
                shared.put(entry["path"], entry["digest"])
                entry["path"] = entry["digest"]  # the client maps it to its own store
            if error is None:
                result["manifest"] = manifest
                slot.holds = {v: e["digest"] for v, e in manifest.get("outputs", {}).items()}
        if error is not None:
            slot.holds = {}
            if secrets:
                error.evalue = scrub_text(error.evalue, secrets)
            result["error"] = error.to_dict()
        result["notebook"] = _read(notebook_path, secrets)
        result["log"] = _read(log_path, secrets)
        result["cancelled"] = cancelled.is_set()
        return result
    finally:
        done.set()
        if secrets:  # what the kernel's process wrote to its stdout/stderr
            _scrub_kernel_log(Path(slot.log_path), secrets)
        pool.release(task.run_id, slot)
        if task.isolate:
            pool._drop(task.run_id, [slot])
        if cancelled.is_set():  # the client cancelled or disappeared: its kernels go too
            pool.close_run(task.run_id, idle_only=True)
        for path in (manifest_path, notebook_path, log_path):
            path.unlink(missing_ok=True)
