"""The Dask executor: each step runs on a Dask worker, in a Jupyter kernel there.

:class:`DaskScheduler` is the local :class:`~jupyter_mlops.runner.scheduler.Scheduler` (same
DAG order, cache keys and decisions, records, failure spread, events) with one difference:
a step is executed by submitting :func:`.dask_worker.run_step` to the cluster instead of
running it in a local kernel. The submitting process stays the only writer of the SQLite
store: the worker sends back the executed notebook, the log and the manifest, and the
step's outputs travel through the shared artifact store (``--artifacts``), from which they
are downloaded (digest checked) into the local store. So the run's record, its artifacts
and its cache entries are exactly those of a local run: a step cached by a local run is a
hit for a Dask run and the reverse, as long as the kernel environments match.

Failures: a step's exception comes back with its cell (and the executed notebook); a
worker lost mid-step is retried on another worker (``retries``, attempts recorded in the
step's ``placement``), Dask's own silent re-runs being refused by the task itself; a
cancel cancels the tasks, which kills their kernels. ``resources:NAME=AMOUNT`` tags are
Dask worker resources.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import uuid
from typing import Any

from ...errors import InvalidInput
from ..execute import StepError
from ..scheduler import Scheduler
from ..secrets import redacted, scrub_files, scrub_text
from ..store import utcnow
from . import ExecutorSpec
from .dask_worker import (
    StepTask,
    WorkerLost,
    output_topic,
    prestart,
    release_run,
    run_step,
    worker_environment,
)

CONNECT_TIMEOUT = float(os.environ.get("JUPYTER_MLOPS_DASK_CONNECT_TIMEOUT", "10"))
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


class _QuietLoss(logging.Filter):
    """Drop what ``distributed.client`` logs when the scheduler goes away mid-run (its failed
    reconnection, tracebacks of its own cancelled close): the run says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Failed to reconnect to scheduler"):
            return False
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


_QUIET = _QuietLoss()


def connect(spec: ExecutorSpec) -> Any:
    """A Dask client of ``spec.scheduler`` (one per process and address);
    :class:`InvalidInput` when the scheduler cannot be reached."""
    from distributed import Client

    assert spec.scheduler
    logger = logging.getLogger("distributed.client")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)
    with _clients_lock:
        client = _clients.get(spec.scheduler)
        if client is not None and client.status == "running":
            return client
        try:
            client = Client(
                spec.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False, name="jupyter-mlops"
            )
        except (OSError, TimeoutError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            if not detail or "timed out" in detail.lower():
                detail = f"no answer within {CONNECT_TIMEOUT:g} s"
            raise InvalidInput(
                f"cannot reach the Dask scheduler at {spec.scheduler} ({detail}): start it "
                "(`dask scheduler`) or fix its address (--scheduler, "
                "$JUPYTER_MLOPS_DASK_SCHEDULER or c.MlopsExtension.dask_scheduler)"
            ) from None
        _clients[spec.scheduler] = client
        return client


def open_executor(spec: ExecutorSpec) -> None:
    """Check that the cluster and the shared store can be reached (before a run is recorded);
    the client stays open for the run."""
    client = connect(spec)
    try:
        if not client.scheduler_info(n_workers=-1).get("workers"):
            raise InvalidInput(
                f"the Dask cluster at {spec.scheduler} has no workers: start some "
                f"(`dask worker {spec.scheduler}`)"
            )
        check_artifacts(spec)
    except BaseException:
        disconnect(spec)
        raise


def disconnect(spec: ExecutorSpec) -> None:
    """Close this process's client of ``spec.scheduler`` (the run is over)."""
    with _clients_lock:
        client = _clients.pop(spec.scheduler or "", None)
    if client is not None:
        with contextlib.suppress(Exception):
            client.close(timeout=5)


def check_artifacts(spec: ExecutorSpec) -> None:
    """:class:`InvalidInput` when the shared store's URL cannot be used from here."""
    from ..artifact_store import SharedArtifacts, display_url

    assert spec.artifacts
    try:
        shared = SharedArtifacts(spec.artifacts)
        shared.fs.ls(shared.root) if shared.fs.exists(shared.root) else None
    except Exception as exc:  # noqa: BLE001 - bad URL, credentials, no such bucket
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(
            f"cannot use the artifact store {display_url(spec.artifacts)}: {message} "
            "(check --artifacts and the credentials, e.g. AWS_ACCESS_KEY_ID / AWS_ENDPOINT_URL)"
        ) from None


def environment_diff(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    """``scikit-learn 1.8.0 vs 1.9.0; only on the workers: foo 1.0``, from two
    :func:`~.dask_worker.worker_environment` records (``ours``: the previous environment)."""

    def dists(record: dict[str, Any]) -> dict[str, str]:
        found = {}
        for entry in record.get("distributions") or []:
            stem = entry.rsplit(".", 1)[0] if "." in entry else entry
            name, _, version = stem.partition("-")
            if entry.endswith((".dist-info", ".egg-info")):
                found[name.replace("_", "-")] = version.split("-")[0] or "?"
        return found

    a, b = dists(ours), dists(theirs)
    parts = []
    if ours.get("python") and theirs.get("python") and ours["python"] != theirs["python"]:
        parts.append(f"Python {ours['python']} vs {theirs['python']}")
    parts += [f"{n} {a[n]} vs {b[n]}" for n in sorted(set(a) & set(b)) if a[n] != b[n]]
    only_b = sorted(set(b) - set(a))
    only_a = sorted(set(a) - set(b))
    if only_b:
        parts.append("only on the workers: " + ", ".join(f"{n} {b[n]}" for n in only_b[:5]))
    if only_a:
        parts.append("not on the workers: " + ", ".join(f"{n} {a[n]}" for n in only_a[:5]))
    return "; ".join(parts) or "different installed files"


class DaskScheduler(Scheduler):
    """A :class:`Scheduler` whose steps execute on a Dask cluster."""

    def __init__(self, pipeline: Any, parameters: dict[str, Any], store: Any, run_id: str,
                 options: Any, on_event: Any = None) -> None:  # fmt: skip
        from ..artifact_store import SharedArtifacts

        super().__init__(pipeline, parameters, store, run_id, options, on_event)
        self.spec: ExecutorSpec = options.executor
        self.client = connect(self.spec)
        self.shared = SharedArtifacts(self.spec.artifacts or "")
        self._placement: dict[str, dict[str, Any]] = {}
        self._futures: dict[str, Any] = {}
        self._futures_lock = threading.Lock()
        self._live: dict[str, int] = {}  # step -> attempt whose output is streamed
        self.run_error: str | None = None  # the run-level error (the scheduler was lost)
        self._environments = self._worker_environments()
        fingerprints = sorted({e["fingerprint"] for e in self._environments.values()})
        self._environment = fingerprints[0] if len(fingerprints) == 1 else "|".join(fingerprints)

    # -- environment -------------------------------------------------------------------------
    def _worker_environments(self) -> dict[str, dict[str, Any]]:
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        if not workers:
            raise InvalidInput(
                f"the Dask cluster at {self.spec.scheduler} has no workers: start some "
                f"(`dask worker {self.spec.scheduler}`)"
            )
        try:
            return self.client.run(worker_environment, self.pipeline.kernel)
        except Exception as exc:  # noqa: BLE001 - e.g. jupyter-mlops missing on a worker
            raise InvalidInput(
                f"the Dask workers at {self.spec.scheduler} cannot run steps: "
                f"{type(exc).__name__}: {exc} (install jupyter-mlops[dask] and the notebook's "
                "kernel on every worker)"
            ) from None

    def _cache_decision(self, step: Any, key: str) -> tuple[dict[str, Any] | None, str]:
        hit, reason = super()._cache_decision(step, key)
        if hit is None and reason.startswith("kernel environment changed"):
            previous = self._known_environment(
                (self.store.previous_key_parts(self.run_id, step.name) or {}).get("environment")
            )
            ours = next(iter(self._environments.values()))
            if previous is not None:
                detail = environment_diff(previous, ours)
                rest = reason.partition(";")[2].strip()
                reason = f"worker environment differs: {detail}" + (f"; {rest}" if rest else "")
        return hit, reason

    def _known_environment(self, part: str | None) -> dict[str, Any] | None:
        """The environment record whose hashed key part is ``part``: this machine's kernel
        environments (``<store>/kernel-envs``) and the workers' ones seen before."""
        from ..cache import key_parts

        if not part:
            return None
        folder = self.store.root / "kernel-envs"
        for path in sorted(folder.glob("*.json")):
            with contextlib.suppress(OSError, ValueError, KeyError):
                record = json.loads(path.read_text(encoding="utf-8"))
                parts = key_parts(code=[], setup=[], parameters={}, inputs={}, outputs=[],
                                  metrics=[], example=None, kernel="",
                                  environment=record["fingerprint"])  # fmt: skip
                if parts["environment"] == part:
                    return record
        return None

    def run(self) -> None:
        self._remember_environments()
        with contextlib.suppress(Exception):  # live output of running steps
            self.client.subscribe_topic(output_topic(self.run_id), self._on_output)
        if not self.options.isolate:
            with contextlib.suppress(Exception):  # warm kernels on the workers meanwhile
                self.client.run(prestart, self.run_id, self.pipeline.kernel, self.options.cwd,
                                wait=False)  # fmt: skip
        try:
            super().run()
        finally:
            with contextlib.suppress(Exception):  # the run's warm kernels on the workers
                self.client.run(release_run, self.run_id)
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(output_topic(self.run_id))
            disconnect(self.spec)

    def _on_output(self, event: tuple[float, dict[str, Any]]) -> None:
        """A running step printed: append it to its log here (tailed into output events)."""
        msg = event[1]
        with self._futures_lock:
            live = self._live.get(msg.get("step")) == msg.get("attempt")
            if live:
                with (
                    contextlib.suppress(OSError),
                    open(self.run_dir / f"{msg['step']}.log", "a", encoding="utf-8") as fh,
                ):
                    fh.write(msg.get("text", ""))

    def _remember_environments(self) -> None:
        """Keep the workers' environment records (to explain later cache misses)."""
        folder = self.store.root / "kernel-envs"
        with contextlib.suppress(OSError):
            folder.mkdir(mode=0o700, exist_ok=True)
            for record in self._environments.values():
                path = folder / f"worker-{record['fingerprint'][:32]}.json"
                if not path.exists():
                    path.write_text(json.dumps(record), encoding="utf-8")

    # -- placement and cancellation ----------------------------------------------------------
    def _new_slot(self) -> Any:
        index = self._slot_count
        self._slot_count += 1
        slot = _RemoteSlot(index, self)
        self.slots.append(slot)
        return slot

    def _kill_all(self) -> None:
        with self._futures_lock:
            futures = list(self._futures.values())
        if futures:
            with contextlib.suppress(Exception):
                self.client.cancel(futures, force=True)

    def _why(self, name: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
        why = super()._why(name, manifest)
        if name in self._placement:
            why["placement"] = self._placement[name]
        return why

    # -- executing one step ------------------------------------------------------------------
    def _start_step(self, pool: Any, step: Any, slot: Any, inputs: dict[str, Any]) -> Any:
        """A pool thread waits for the step's task on the cluster."""
        return pool.submit(self._in_worker, self._execute, step, slot, inputs)

    def _kernel_label(self, slot: Any) -> str:
        return "dask"

    def _execute(self, step: Any, slot: Any, inputs: dict[str, dict[str, Any]]) -> StepError | None:
        from ..stepnb import StepPlan

        state = self.states[step.name]
        values = {p: self.parameters[p] for p in step.params_read if p in self.parameters}
        hidden = {k: v for k, v in values.items() if k in self.secrets}
        manifest_path = self.run_dir / f"{step.name}.manifest.json"
        state.plan = StepPlan(
            step=step, parameters=redacted(values, hidden), inputs={}, outputs=self._outputs(step),
            consumers=self._consumers[step.name], metrics=self._metric_steps.get(step.name, []),
            example=self._example_for(step), environment=self._is_model_step(step),
            artifacts=str(self.store.artifacts), manifest=str(manifest_path),
        )  # fmt: skip
        if self.cancelled.is_set():
            return StepError(None, "Cancelled", "the run was cancelled")
        if self.run_error is not None:  # nothing more is submitted to a lost scheduler
            return StepError(None, "SchedulerLost", self.run_error)
        try:
            for entry in inputs.values():  # e.g. cached by a local run: not uploaded yet
                self.shared.put(entry["path"], entry["digest"])
        except Exception as exc:  # noqa: BLE001 - the shared store is unreachable
            return StepError(None, type(exc).__name__, f"uploading inputs: {exc}", "inputs")
        resources = dict(getattr(step, "resources", None) or {})
        problem = self._no_worker_for(resources)
        if problem:
            return StepError(None, "NoWorker", problem)
        attempts: list[dict[str, Any]] = []
        self._placement[step.name] = {"executor": "dask", "attempts": attempts}
        for attempt in range(1, self.spec.retries + 2):
            task = StepTask(
                run_id=self.run_id, attempt=attempt, pipeline=self.pipeline, step=step.name,
                parameters=state.plan.parameters, secrets=hidden,
                inputs={v: {"digest": e["digest"], "size": e.get("size")} for v, e in inputs.items()},
                outputs=state.plan.outputs, consumers=state.plan.consumers,
                metrics=state.plan.metrics, example=state.plan.example,
                environment=state.plan.environment, artifacts=self.spec.artifacts or "",
                cwd=self.options.cwd, reads=self._declared_reads(step),
                not_data=self._not_data(), timeout=self.options.step_timeout,
                isolate=self.options.isolate,
                claim=f"jupyter-mlops-{self.run_id}-{step.name}-{attempt}-{uuid.uuid4().hex[:8]}",
            )  # fmt: skip
            began = utcnow()
            outcome = self._submit(task, resources)
            if isinstance(outcome, StepError):
                attempts.append({"attempt": attempt, "started_at": began, "worker": None,
                                 "outcome": f"{outcome.ename}: {outcome.evalue}"})  # fmt: skip
                if outcome.ename == "WorkerLost" and attempt <= self.spec.retries:
                    if self.cancelled.is_set():
                        return StepError(None, "Cancelled", "the run was cancelled")
                    continue
                return outcome
            return self._settle(step, outcome, attempts, attempt, began)
        return StepError(None, "WorkerLost", "no attempt left")  # not reached

    def _no_worker_for(self, resources: dict[str, float]) -> str | None:
        if not resources:
            return None
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        for info in workers.values():
            have = info.get("resources") or {}
            if all(have.get(k, 0) >= v for k, v in resources.items()):
                return None
        wanted = ",".join(f"{k}={v:g}" for k, v in resources.items())
        return (
            f"no worker of the Dask cluster at {self.spec.scheduler} has the resources "
            f"{wanted} this step's resources: tags ask for; start one with "
            f"`dask worker {self.spec.scheduler} --resources {wanted}`"
        )

    def _submit(self, task: StepTask, resources: dict[str, float]) -> dict[str, Any] | StepError:
        """Run ``task`` on the cluster and wait for it (cancellable)."""
        from distributed import Variable
        from distributed.client import FutureCancelledError

        future = self.client.submit(
            run_step, task, key=task.claim, pure=False, retries=0,
            resources=resources or None,
        )  # fmt: skip
        with self._futures_lock:
            self._futures[task.step] = future
            self._live[task.step] = task.attempt
        try:
            while True:
                if self.cancelled.is_set():
                    future.cancel(force=True)
                    return StepError(None, "Cancelled", "the run was cancelled")
                with contextlib.suppress(TimeoutError):
                    return future.result(timeout=0.2)
        except WorkerLost as exc:
            return StepError(None, "WorkerLost", str(exc))
        except (FutureCancelledError, Exception) as exc:  # noqa: BLE001 - lost, cancelled, bug
            name = type(exc).__name__
            if name == "KilledWorker":
                return StepError(None, "WorkerLost", f"the step's worker left the cluster ({exc})")
            if self.cancelled.is_set():
                return StepError(None, "Cancelled", "the run was cancelled")
            if isinstance(exc, FutureCancelledError) and self.client.status != "running":
                self.run_error = (
                    f"lost the connection to the Dask scheduler at {self.spec.scheduler} during "
                    "the run: check that it still runs (or restart it), then run again (the "
                    "steps that finished are cached)"
                )
                return StepError(None, "SchedulerLost", self.run_error)
            if isinstance(exc, FutureCancelledError):
                return StepError(
                    None, "DaskCancelled",
                    f"the Dask scheduler at {self.spec.scheduler} dropped the step's task (it "
                    "restarted, or this client lost its connection)",
                )  # fmt: skip
            detail = str(exc).splitlines()[0] if str(exc) else "no detail"
            return StepError(None, name, f"the Dask task failed: {detail}")
        finally:
            with self._futures_lock:
                self._futures.pop(task.step, None)
                self._live.pop(task.step, None)
            with contextlib.suppress(Exception):
                Variable(task.claim, client=self.client).delete()

    def _settle(
        self, step: Any, result: dict[str, Any], attempts: list[dict[str, Any]], attempt: int,
        began: str,
    ) -> StepError | None:  # fmt: skip
        """Write the worker's notebook, log and manifest here; fetch its outputs."""
        name = step.name
        worker = result.get("worker")
        attempts.append({"attempt": attempt, "started_at": began, "worker": worker,
                         "kernel": result.get("kernel")})  # fmt: skip
        placement = self._placement[name]
        placement["worker"] = worker
        self.store.update_step(self.run_id, name, kernel=f"{worker} {result.get('kernel')}")
        notebook = self.run_dir / f"{name}.ipynb"
        log = self.run_dir / f"{name}.log"
        if result.get("notebook") is not None:
            notebook.write_text(result["notebook"], encoding="utf-8")
        log.write_text(result.get("log") or "", encoding="utf-8")
        if self.secrets:
            scrub_files([notebook, log], self.secrets.values())
        error = result.get("error")
        if error is not None:
            attempts[-1]["outcome"] = f"{error['ename']}: {error['evalue']}"
            evalue = error["evalue"]
            if self.secrets:
                evalue = scrub_text(evalue, self.secrets.values())
            return StepError(error["cell"], error["ename"], evalue, error.get("generated"))
        if result.get("cancelled") or self.cancelled.is_set():
            return StepError(None, "Cancelled", "the run was cancelled")
        manifest = result["manifest"]
        entries = list(manifest.get("outputs", {}).values())
        if manifest.get("example"):
            entries.append(manifest["example"])
        try:
            for entry in entries:  # into the local store, checked against the digest
                path = self.shared.get(entry["digest"], self.store.artifacts, entry.get("size"))
                entry["path"] = str(path)
        except Exception as exc:  # noqa: BLE001 - corrupt, missing, unreachable
            attempts[-1]["outcome"] = f"{type(exc).__name__}: {exc}"
            return StepError(None, type(exc).__name__, f"output: {exc}", "outputs")
        attempts[-1]["outcome"] = "succeeded"
        tmp = self.run_dir / f"{name}.manifest.json.tmp"
        tmp.write_text(json.dumps(manifest), encoding="utf-8")
        tmp.replace(self.run_dir / f"{name}.manifest.json")
        return None


class _RemoteSlot:
    """A place for one step in flight on the cluster (the scheduler's ``jobs`` limit)."""

    def __init__(self, index: int, scheduler: DaskScheduler) -> None:
        self.index = index
        self.holds: dict[str, str] = {}
        self.pending: list[str] = []
        self.busy = False
        self.used = False
        self.killed = False
        self._scheduler = scheduler

    def start(self) -> None:
        return None

    def is_alive(self) -> bool:
        return True

    def kill(self) -> None:
        self._scheduler._kill_all()

    def shutdown(self) -> None:
        return None
