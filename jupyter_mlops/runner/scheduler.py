"""The DAG scheduler: cache look-ups, kernel placement, parallel execution, failure spread.

Runs in the calling thread; step executions happen on worker threads (one per busy
kernel slot, at most ``jobs``). All store writes happen on the calling thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..compiler import normalize_code
from ..compiler.pipeline import Pipeline, Step
from ..serialization import STAGING_ROOT, clean_stale, failure, staging_path, wait_for
from .cache import key_of, key_parts, what_changed
from .execute import StepError, execute_step_notebook
from .freshness import stale_reason
from .kernels import KernelSlot
from .secrets import (
    key_parameters,
    redacted,
    scrub_files,
    scrub_text,
    secret_names,
    write_secrets_file,
)
from .stepnb import StepPlan, build_step_notebook
from .store import Store, utcnow

Event = Callable[[str, str, dict[str, Any]], None]


@dataclass
class Options:
    jobs: int
    use_cache: bool
    isolate: bool
    step_timeout: float | None
    cwd: str
    refresh: tuple[str, ...] = ()  # re-run these steps and their dependents (``--refresh``)
    executor: Any = None  # an ExecutorSpec (``executors/``); None: this machine's kernels


@dataclass
class StepState:
    status: str = "queued"
    manifest: dict[str, Any] | None = None
    error: StepError | None = None
    started: float | None = None
    key: str | None = None
    slot: KernelSlot | None = None
    plan: StepPlan | None = None
    loaded: dict[str, str] = field(default_factory=dict)
    parts: dict[str, str] = field(default_factory=dict)  # the cache key's parts
    reason: str | None = None  # why the step ran or was cached


class Scheduler:
    """Executes one run of a compiled pipeline."""

    def __init__(
        self,
        pipeline: Pipeline,
        parameters: dict[str, Any],
        store: Store,
        run_id: str,
        options: Options,
        on_event: Event | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.parameters = parameters
        self.store = store
        self.run_id = run_id
        self.options = options
        self.on_event = on_event or (lambda kind, step, info: None)
        self.run_dir = store.run_dir(run_id)
        self.states = {step.name: StepState() for step in pipeline.steps}
        self._downstream: dict[str, list[str]] = {name: [] for name in self.states}
        for step in pipeline.steps:
            for upstream in step.upstream:
                self._downstream[upstream].append(step.name)
        # pending steps worth looking at in the next pass: those whose upstream steps
        # changed status since (a pass then costs nothing for steps still waiting)
        self._check: set[str] = set(self.states)
        self.slots: list[KernelSlot] = []
        self.cancelled = threading.Event()
        self._setup_code = [normalize_code(s) for s in pipeline.setup_sources]
        self._consumers = self._consumer_map()
        self._deferred: list[tuple[str, str, str, dict[str, Any], list[str]]] = []
        self._slot_count = 0
        # short absolute path: unix socket paths are limited to ~100 bytes
        self._ipc_dir = tempfile.mkdtemp(prefix="jupyter-mlops-")
        self._retiring: list[KernelSlot] = []
        self._prewarmed = False
        self._loops: set[Any] = set()  # worker threads' event loops, closed at the end
        self._loops_lock = threading.Lock()
        hidden = secret_names(pipeline.parameters)
        self.secrets = {k: v for k, v in parameters.items() if k in hidden}
        self._key_parameters = key_parameters(parameters, self.secrets, store.root)
        self._metric_steps: dict[str, list[str]] = {}
        # steps whose outputs are still being written: recorded 'succeeded' once they exist
        self._unsaved: dict[str, tuple[list[str], KernelSlot | None, dict[str, Any]]] = {}
        for metric, step in pipeline.metric_steps.items():
            self._metric_steps.setdefault(step, []).append(metric)
        self._refreshed = self._with_dependents(options.refresh)
        self._environment: str | None = None

    def _with_dependents(self, names: tuple[str, ...]) -> dict[str, str]:
        """Steps that ``--refresh`` re-runs, with the refreshed step each one follows."""
        forced: dict[str, str] = {}
        for step in self.pipeline.steps:  # topological order
            if step.name in names:
                forced[step.name] = step.name
            else:
                origin = next((forced[u] for u in step.upstream if u in forced), None)
                if origin is not None:
                    forced[step.name] = origin
        return forced

    # -- planning ----------------------------------------------------------------------------
    def _consumer_map(self) -> dict[str, dict[str, list[str]]]:
        consumers: dict[str, dict[str, list[str]]] = {s.name: {} for s in self.pipeline.steps}
        for step in self.pipeline.steps:
            for var, producer in step.inputs.items():
                consumers[producer].setdefault(var, []).append(step.name)
        return consumers

    def _example_for(self, step: Step) -> str | None:
        example = self.pipeline.example
        return example["variable"] if example and example["step"] == step.name else None

    def _is_model_step(self, step: Step) -> bool:
        model = self.pipeline.model
        return bool(model and model["step"] == step.name)

    def _input_entries(self, step: Step) -> dict[str, dict[str, Any]]:
        entries = {}
        for var, producer in step.inputs.items():
            manifest = self.states[producer].manifest or {}
            entry = manifest.get("outputs", {}).get(var)
            if entry is not None:
                entries[var] = entry
        return entries

    def _key(self, step: Step, inputs: dict[str, dict[str, Any]]) -> str:
        if self._environment is None:
            from .kernelenv import fingerprint

            self._environment = fingerprint(self.pipeline.kernel, self.store.root / "kernel-envs")
        self.states[step.name].parts = parts = key_parts(
            environment=self._environment,
            code=[normalize_code(s) for s in step.sources],
            setup=self._setup_code,
            parameters={
                p: self._key_parameters[p] for p in step.params_read if p in self.parameters
            },
            inputs={var: entry["digest"] for var, entry in inputs.items()},
            outputs=self._outputs(step),
            metrics=self._metric_steps.get(step.name, []),
            example=self._example_for(step),
            kernel=self.pipeline.kernel,
        )
        return key_of(parts)

    def _outputs(self, step: Step) -> list[str]:
        outputs = list(step.outputs)
        model = self.pipeline.model
        if model and model["step"] == step.name and model["variable"] not in outputs:
            outputs.append(model["variable"])
        return outputs

    # -- running -----------------------------------------------------------------------------
    def run(self) -> None:
        """Execute until every step is finished, failed or skipped, or the run is cancelled.

        Cancellation (:meth:`request_cancel`, e.g. from a signal handler) only sets a flag;
        this loop notices it within 0.2 s, kills the kernels and drains the workers, so no
        exception is ever raised into the middle of a lock or a transaction.
        """
        pending = [s.name for s in self.pipeline.steps]
        futures: dict[Future[StepError | None], str] = {}
        done: set[Future[StepError | None]] = set()
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            try:
                while pending or futures:
                    if self.cancelled.is_set():
                        self._kill_all()
                        for future in wait(list(futures)).done:
                            self._finish(futures.pop(future), future)
                        for name in pending:
                            self._set(name, "skipped")
                        return
                    # one commit for all the records of this pass, made once the next steps
                    # are on their way (a re-run of a long pipeline marks every step cached
                    # in a single pass; in a chain, the next step starts before the commit)
                    with self.store.batch():
                        for future in done:
                            self._finish(futures.pop(future), future)
                        self._reap(wait=False)
                        self._confirm_saved(final=False)
                        progressed = self._dispatch(pending, futures, pool) or bool(done)
                    done = set()
                    if futures:
                        done, _ = wait(list(futures), timeout=0.2, return_when=FIRST_COMPLETED)
                    elif not progressed:
                        break
            finally:
                for slot in self.slots:
                    self._drain(slot)
                    slot.shutdown()
                self._reap(wait=True)
                self._confirm_saved(final=True)
                if self._slot_count:
                    clean_stale(self.store.artifacts)  # what killed writers left behind
                self.store.forget_kernels(self.run_id)
                if self.secrets:  # the kernels' own logs
                    scrub_files(self.run_dir.glob("*.log"), self.secrets.values())
                self._store_deferred_cache()
                shutil.rmtree(self._ipc_dir, ignore_errors=True)
                self._close_loops()

    def request_cancel(self) -> None:
        """Ask the run to stop (safe from a signal handler: it only sets a flag)."""
        self.cancelled.set()

    def _kill_all(self) -> None:
        for slot in list(self.slots):
            slot.kill()

    def _dispatch(
        self,
        pending: list[str],
        futures: dict[Future[StepError | None], str],
        pool: ThreadPoolExecutor,
    ) -> bool:
        progressed = False
        for name in list(pending):
            if name not in self._check:
                continue
            step = self.pipeline.step(name)
            upstream = [self.states[u].status for u in step.upstream]
            if any(s in ("failed", "skipped") for s in upstream):
                pending.remove(name)
                bad = next(
                    u for u in step.upstream if self.states[u].status in ("failed", "skipped")
                )
                self.states[name].reason = f"step {bad} {self.states[bad].status}"
                self._set(name, "skipped", manifest=self._why(name))
                progressed = True
                continue
            if not all(s in ("succeeded", "cached") for s in upstream):
                self._check.discard(name)
                continue
            inputs = self._input_entries(step)
            if self.states[name].key is None:  # kept while the step waits for a free job
                self.states[name].key = self._key(step, inputs)
            key = self.states[name].key
            if self.states[name].reason is None:
                hit, self.states[name].reason = self._cache_decision(step, key)
                if hit is not None:
                    pending.remove(name)
                    self._cached(step, hit)
                    progressed = True
                    continue
            slot = self._slot_for(step, inputs)
            if slot is None:
                continue
            pending.remove(name)
            self._prewarm(len(pending))
            state = self.states[name]
            state.slot, state.started = slot, time.monotonic()
            futures[self._start_step(pool, step, slot, inputs)] = name
            self._set(name, "running", started_at=utcnow(), kernel=self._kernel_label(slot))
            progressed = True
        return progressed

    def _start_step(
        self,
        pool: ThreadPoolExecutor,
        step: Step,
        slot: KernelSlot,
        inputs: dict[str, dict[str, Any]],
    ) -> Future[StepError | None]:
        """Start the step in its kernel slot's own thread, where the slot's kernel client
        lives (no hand-over through a pool thread)."""
        return slot.submit(self._in_worker, self._execute, step, slot, inputs)

    def _kernel_label(self, slot: KernelSlot) -> str:
        """What a running step's record says about where it runs."""
        return f"kernel-{slot.index}"

    def _cache_decision(self, step: Step, key: str) -> tuple[dict[str, Any] | None, str]:
        """A usable cache entry (or None) and why the step is cached or must run."""
        if not self.options.use_cache:
            return None, "--no-cache"
        if not step.cache:
            return None, "cache:disabled"
        if step.name in self._refreshed:
            origin = self._refreshed[step.name]
            return None, "--refresh" if origin == step.name else f"--refresh {origin} (upstream)"
        hit = self.store.cache_lookup(key)
        if hit is None:
            previous = self.store.previous_key_parts(self.run_id, step.name)
            if previous is None:
                return None, "no cache entry (first run of this step)"
            return None, what_changed(previous, self.states[step.name].parts) or "no cache entry"
        stale, refreshed = stale_reason(hit["manifest"], self.options.cwd, step.cache_ttl)
        if stale is not None:
            return None, stale
        if refreshed:
            self.store.cache_refresh_reads(key, hit["manifest"]["reads"])
        return hit, f"cached from run {hit['run_id']}"

    def _slot_for(self, step: Step, inputs: dict[str, dict[str, Any]]) -> KernelSlot | None:
        """An idle kernel holding most of the step's inputs (with ``--isolate``: an idle
        kernel that never ran a step), a new one, or None (wait for a free job)."""
        idle = [
            s
            for s in self.slots
            if not s.busy and not s.killed and not (self.options.isolate and s.used)
        ]
        if idle:

            def held(slot: KernelSlot) -> int:
                return sum(slot.holds.get(v) == e["digest"] for v, e in inputs.items())

            best = max(idle, key=held)
        elif sum(1 for s in self.slots if s.busy) >= self.options.jobs:
            return None
        else:
            best = self._new_slot()
        best.busy = best.used = True
        return best

    def _new_slot(self) -> KernelSlot:
        index = self._slot_count
        self._slot_count += 1
        slot = KernelSlot(
            index,
            self.pipeline.kernel,
            self.options.cwd,
            self.run_dir / f"kernel-{index}.log",
            os.path.join(self._ipc_dir, f"k{index}"),
            on_start=lambda pid: self.store.add_kernel(self.run_id, pid),
        )
        self.slots.append(slot)
        return slot

    def _prewarm(self, remaining: int) -> None:
        """Start kernels in the background before steps need them (a start costs ≈ 1 s).

        Shared kernels: once, as many as the DAG's widest level can use (≤ ``jobs``).
        ``--isolate``: keep one fresh spare kernel while steps remain to be dispatched.
        """
        if self.options.isolate:
            spare = [s for s in self.slots if not s.busy and not s.used and not s.killed]
            if remaining and not spare and len(self.slots) <= self.options.jobs:
                self._start_in_background(self._new_slot())
            return
        if self._prewarmed or self.options.jobs < 2:
            return
        self._prewarmed = True
        wanted = min(_width(self.pipeline), self.options.jobs) - len(self.slots)
        for _ in range(max(0, wanted)):
            self._start_in_background(self._new_slot())

    def _start_in_background(self, slot: KernelSlot) -> None:
        threading.Thread(target=self._in_worker, args=(_start_quietly, slot), daemon=True).start()

    def _in_worker(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in a worker thread, remembering the thread's event loop (the kernel
        clients run on it) so that :meth:`_close_loops` closes it when the run ends."""
        from jupyter_core.utils import ensure_event_loop

        try:
            return fn(*args)
        finally:
            with self._loops_lock:
                self._loops.add(ensure_event_loop())

    def _close_loops(self) -> None:
        """Close the worker threads' event loops (left to the garbage collector, one could
        be finalized after its own sockets at exit and print a traceback)."""
        with self._loops_lock:
            loops, self._loops = self._loops, set()
        for loop in loops:
            if not loop.is_running() and not loop.is_closed():
                with contextlib.suppress(Exception):
                    loop.close()

    def _execute(
        self, step: Step, slot: KernelSlot, inputs: dict[str, dict[str, Any]]
    ) -> StepError | None:
        """The slot's thread: build the step notebook and run it in ``slot`` (the step is
        recorded as running by the scheduler's thread)."""
        state = self.states[step.name]
        values = {p: self.parameters[p] for p in step.params_read if p in self.parameters}
        hidden = {k: v for k, v in values.items() if k in self.secrets}
        plan = StepPlan(
            step=step,
            parameters=redacted(values, hidden),
            inputs={var: (e["digest"], e["path"]) for var, e in inputs.items()},
            outputs=self._outputs(step),
            consumers=self._consumers[step.name],
            metrics=self._metric_steps.get(step.name, []),
            example=self._example_for(step),
            environment=self._is_model_step(step),
            artifacts=str(self.store.artifacts),
            manifest=str(self.run_dir / f"{step.name}.manifest.json"),
            secrets=write_secrets_file(self._ipc_dir, step.name, hidden) if hidden else None,
            watch=(self.options.cwd, self._not_data(), self._declared_reads(step)),
        )
        state.plan = plan
        if self.cancelled.is_set():
            return StepError(None, "Cancelled", "the run was cancelled")
        nb = build_step_notebook(self.pipeline, plan)
        error = execute_step_notebook(
            slot,
            nb,
            self.run_dir / f"{step.name}.ipynb",
            self.run_dir / f"{step.name}.log",
            self.options.step_timeout,
            self.cancelled,
        )
        if self.secrets:  # whatever the step printed or raised shows <secret> instead
            paths = [self.run_dir / f"{step.name}.ipynb", self.run_dir / f"{step.name}.log"]
            scrub_files(paths, self.secrets.values())
            if error is not None:
                error.evalue = scrub_text(error.evalue, self.secrets.values())
        return error

    def _not_data(self) -> list[str]:
        """Folders whose files are never a step's data: the store, the staging area, and the
        run's private folder (secrets files)."""
        return [str(self.store.root), str(STAGING_ROOT), self._ipc_dir]

    def _declared_reads(self, step: Step) -> list[str]:
        """The step's ``reads:`` paths, resolved against the notebook's folder."""
        return [os.path.join(self.options.cwd, os.path.expanduser(p)) for p in step.reads]

    def _why(self, name: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
        """The step row's manifest: the kernel's, plus why the step ran and its key parts."""
        state = self.states[name]
        parts = {"key_parts": state.parts} if state.parts else {}
        return {**(manifest or {}), "reason": state.reason, **parts}

    def _finish(self, name: str, future: Future[StepError | None]) -> None:
        state = self.states[name]
        step = self.pipeline.step(name)
        slot = state.slot
        try:
            error = future.result()
        except Exception as exc:  # noqa: BLE001 - a bug or infrastructure failure in a worker
            error = StepError(None, type(exc).__name__, str(exc))
        duration = time.monotonic() - state.started if state.started else 0.0
        notebook = str(self.run_dir / f"{name}.ipynb")
        if error is None:
            manifest, error = _read_manifest(state.plan)
        if error is None:
            state.manifest = manifest
            if slot is not None:  # the kernel reuses only what the step that ran last produced
                slot.holds = {v: e["digest"] for v, e in manifest["outputs"].items()}
            pending = _pending_paths(manifest)
            if slot is not None:
                slot.pending.extend(pending)
            if state.key and step.cache:
                if pending:
                    self._deferred.append((state.key, name, notebook, manifest, pending))
                else:
                    self.store.cache_store(state.key, self.run_id, name, notebook, manifest)
            fields = {
                "finished_at": utcnow(),
                "duration_s": round(duration, 3),
                "notebook": notebook,
                "manifest": self._why(name, manifest),
                "cache_key": state.key,
            }
            if pending:  # consumers may start (they read the staging copy); the record
                state.status = "succeeded"  # says 'succeeded' once the outputs exist
                self._check.update(self._downstream[name])
                self._unsaved[name] = (pending, slot, fields)
            else:
                self._set(name, "succeeded", **fields)
        else:
            state.error = error
            if slot is not None:
                slot.holds = {}
            self._set(
                name,
                "failed",
                finished_at=utcnow(),
                duration_s=round(duration, 3),
                notebook=notebook,
                error=error.to_dict(),
                manifest=self._why(name),
                cache_key=state.key,
            )
        if slot is not None:
            slot.busy = False
            if self.options.isolate or not slot.is_alive():
                # retire it: its background writes may still be running (consumers read the
                # in-memory staging copy meanwhile); it is shut down once they are done
                self.slots.remove(slot)
                self._retiring.append(slot)
                self._reap(wait=False)

    def _confirm_saved(self, final: bool) -> bool:
        """Record steps whose background-written outputs now exist as 'succeeded'; those
        whose writes failed or can no longer finish (kernel gone, run over) as 'failed'.
        True if any step failed this way."""
        failed = False
        for name, (paths, slot, fields) in list(self._unsaved.items()):
            if all(os.path.exists(p) for p in paths):
                del self._unsaved[name]
                self._set(name, "succeeded", **fields)
                continue
            missing = [p for p in paths if not os.path.exists(p)]
            reasons = [failure(p) for p in missing]
            gone = slot is None or not slot.is_alive()
            if not (final or gone or any(reasons)):
                continue
            del self._unsaved[name]
            variable = _variable_of(fields["manifest"], missing[0])
            reason = next((r for r in reasons if r), None) or (
                "the run was cancelled" if self.cancelled.is_set() else "its kernel stopped"
            )
            error = StepError(
                None, "OutputNotSaved", f"output {variable!r} was not saved ({reason})", "outputs"
            )
            self.states[name].error = error
            failed = True
            self._set(
                name,
                "failed",
                finished_at=fields["finished_at"],
                duration_s=fields["duration_s"],
                notebook=fields["notebook"],
                error=error.to_dict(),
                cache_key=fields["cache_key"],
            )
        return failed

    def _reap(self, wait: bool) -> None:
        """Shut down retired kernels whose background writes are done (all, with ``wait``)."""
        for slot in list(self._retiring):
            done = not slot.is_alive() or all(
                os.path.exists(p) or failure(p) is not None for p in slot.pending
            )
            if done or wait:
                self._drain(slot)
                slot.shutdown()
                self._retiring.remove(slot)

    def _drain(self, slot: KernelSlot) -> None:
        """Wait for the kernel's background artifact writes before it goes away; a cancel
        (Ctrl-C during a long final write) stops waiting and kills the kernel, and the
        unfinished outputs are then reported as not saved."""

        def alive() -> bool:
            return slot.is_alive() and not self.cancelled.is_set()

        for path in slot.pending:
            wait_for(path, alive=alive)
        if self.cancelled.is_set():
            slot.kill()
        slot.pending.clear()

    def _store_deferred_cache(self) -> None:
        """Cache steps whose large outputs were written in the background, once complete;
        remove staging copies that a killed kernel left behind."""
        for key, name, notebook, manifest, paths in self._deferred:
            for path in paths:
                staging_path(path).unlink(missing_ok=True)
            if all(os.path.exists(p) for p in paths):
                self.store.cache_store(key, self.run_id, name, notebook, manifest)
        self._deferred.clear()

    def _cached(self, step: Step, hit: dict[str, Any]) -> None:
        state = self.states[step.name]
        state.manifest = hit["manifest"]
        now = utcnow()
        self._set(
            step.name,
            "cached",
            started_at=now,
            finished_at=now,
            duration_s=0.0,
            notebook=hit["notebook"],
            cached_from=hit["run_id"],
            manifest=self._why(step.name, hit["manifest"]),
            cache_key=state.key,
        )

    def record_step(self, name: str, status: str, **fields: Any) -> None:
        """Set a step's status in memory, in the store and for listeners."""
        self._set(name, status, **fields)

    def _set(self, name: str, status: str, **fields: Any) -> None:
        self.states[name].status = status
        self._check.update(self._downstream[name])
        self.store.update_step(self.run_id, name, status=status, **fields)
        info = {"status": status}
        info.update({k: v for k, v in fields.items() if k in ("duration_s", "notebook", "error")})
        info["reason"] = self.states[name].reason
        self.on_event("step", name, info)


def _read_manifest(plan: StepPlan | None) -> tuple[dict[str, Any], StepError | None]:
    """The manifest the step's save cell wrote; a step that ended without one failed."""
    try:
        assert plan is not None
        return json.loads(Path(plan.manifest).read_text(encoding="utf-8")), None
    except (AssertionError, OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
        return {}, StepError(
            None,
            "StepIncomplete",
            f"the step ended without saving its outputs ({reason})",
            "outputs",
        )


def _pending_paths(manifest: dict[str, Any]) -> list[str]:
    """Artifacts of a manifest that the kernel is still writing in the background."""
    entries = list(manifest.get("outputs", {}).values())
    if manifest.get("example"):
        entries.append(manifest["example"])
    return [e["path"] for e in entries if e.get("pending")]


def _variable_of(manifest: dict[str, Any], path: str) -> str:
    for variable, entry in manifest.get("outputs", {}).items():
        if entry.get("path") == path:
            return variable
    return "the example" if (manifest.get("example") or {}).get("path") == path else path


def _width(pipeline: Pipeline) -> int:
    """How many steps share the widest level of the DAG (levels = longest path from a root)."""
    level: dict[str, int] = {}
    for step in pipeline.steps:  # topological order
        level[step.name] = 1 + max((level[u] for u in step.upstream), default=-1)
    counts: dict[int, int] = {}
    for value in level.values():
        counts[value] = counts.get(value, 0) + 1
    return max(counts.values(), default=1)


def _start_quietly(slot: KernelSlot) -> None:
    """Start a kernel ahead of time; a failure here is retried by the step that needs it."""
    with contextlib.suppress(Exception):
        slot.start()
