"""Run operations of :class:`~jupyter_mlops.service.MlopsService` (run, list, show)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InvalidInput, NotFound


class RunOperations:
    """Mixin: uses ``self.store`` (Path) and ``self.notebook_path(path)``."""

    store: Path
    registry_uri: str
    notebook_path: Callable[[str], Path]
    for_notebook: Callable[[Path | None], Any]

    def run(
        self,
        path: str,
        parameters: dict[str, Any] | None = None,
        *,
        parameter_texts: list[tuple[str, str]] | None = None,
        parameter_file: str | None = None,
        jobs: int | None = None,
        use_cache: bool = True,
        isolate: bool = False,
        step_timeout: float | None = None,
        report: str = "background",
        on_event: Callable[[str, str, dict[str, Any]], None] | None = None,
        refresh: list[str] | None = None,
        executor: Any = None,
        pipeline: Any = None,
    ) -> dict[str, Any]:
        """Run the notebook's pipeline to the end; return the run record. ``pipeline``: its
        compiled pipeline, when the caller has just compiled it (see :meth:`pipeline`);
        ``executor``: an ``ExecutorSpec`` (None: the environment's, else this machine)."""
        from .runner import run_pipeline

        notebook = self.notebook_path(path)
        run = run_pipeline(
            notebook,
            parameters,
            parameter_texts=parameter_texts,
            parameter_file=parameter_file,
            store=self.for_notebook(notebook).store,
            jobs=jobs,
            use_cache=use_cache,
            isolate=isolate,
            step_timeout=step_timeout,
            report=report,
            on_event=on_event,
            refresh=refresh,
            executor=executor or getattr(self, "executor", None),
            pipeline=pipeline,
        )
        return run.to_dict()

    def runs(
        self,
        notebook: str | None = None,
        limit: int = 100,
        offset: int = 0,
        before: str | None = None,
    ) -> list[dict[str, Any]]:
        """Runs in the store, newest first (optionally of one notebook), one page at a time.

        Reads only: the store is opened read-only and nothing is created or written.
        """
        from .runner.store import Store

        nb = self.notebook_path(notebook) if notebook else None
        root = self.for_notebook(nb).store
        if not (root / "runs.db").is_file():
            return []
        try:
            store = Store.open_existing(root)
        except NotFound:  # a store whose first run is creating it right now
            return []
        with store:
            return store.list_runs(str(nb) if nb else None, limit, offset=offset, before=before)

    def get_run(self, run_id: str, notebook: str | None = None) -> dict[str, Any]:
        """One run record, ``latest`` = the newest run (of ``notebook``); ``NotFound`` if there
        is none."""
        from .runner.store import Store

        nb = self.notebook_path(notebook) if notebook else None
        with Store.open_existing(self.for_notebook(nb).store) as store:
            if run_id != "latest":
                return store.get_run(run_id)
            record = store.latest_run(str(nb) if nb else None, status=None)
            if record is None:
                where = f" of {notebook}" if notebook else ""
                raise NotFound(f"no run{where} in store {store.root}")
            return record

    # -- background runs (the Jupyter server's run manager and run processes) ----------------
    def queue_run(
        self,
        path: str,
        parameters: Any = None,
        *,
        use_cache: Any = True,
        isolate: Any = False,
        publish: Any = None,
        jobs: int | None = None,
        step_timeout: float | None = None,
        origin: str = "server",
        schedule: dict[str, Any] | None = None,
        executor: str | None = None,
    ) -> tuple[str, Path]:
        """Check a run request completely, then record it as ``queued`` (nothing is
        recorded when anything is wrong). Returns the run id and its store. ``origin``: who
        starts its run process (the server's run manager starts only ``"server"`` runs; the
        widget starts its own). ``executor``: ``local``, ``dask`` or None (the default)."""
        from .runner.run import prepare_run, queue_run

        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise InvalidInput("'parameters' must be an object mapping parameter names to values")
        for name, value in (("use_cache", use_cache), ("isolate", isolate)):
            if not isinstance(value, bool):
                raise InvalidInput(f"{name!r} must be true or false, got {value!r}")
        publish = check_publish(publish)
        notebook = self.notebook_path(path)
        if publish is not None:  # the rules `run --publish` applies: names, aliases, gates
            self.publish_options(path, **publish)  # type: ignore[attr-defined]
        prepared = prepare_run(
            notebook, parameters, jobs=jobs, use_cache=use_cache, isolate=isolate,
            step_timeout=step_timeout, executor=self.executor_named(executor),  # type: ignore[attr-defined]
        )  # fmt: skip
        store = self.for_notebook(notebook).store
        request = {"parameters": parameters, "publish": publish}
        if schedule is not None:  # {"id", "slot"}: the firing this run records its outcome in
            request["schedule"] = schedule
        return queue_run(prepared, store, request, origin=origin)

    def run_queued(self, store: Path, run_id: str) -> dict[str, Any] | None:
        """Run a queued run in this process (a run process), then publish it if its request
        asked for that; the publish outcome goes to ``runs/<id>/publish.json``."""
        from .runner.run import run_queued

        done = run_queued(store, run_id)
        if done is None:
            return None
        run, request = done
        publish = request.get("publish")
        schedule = request.get("schedule")
        if publish and run.status == "succeeded":
            if schedule:
                publish = {**publish, "schedule": schedule["id"]}
            _publish_after_run(self, store, run_id, publish)
        if schedule:
            from .runner.store import Store
            from .schedules.outcome import of_run
            from .schedules.table import finish

            record = run.to_dict()
            published = _published(store, run_id) if publish else None
            with Store.open(store) as db:
                finish(db, schedule["id"], schedule["slot"], of_run(record, published))
        return run.to_dict()

    def relative_path(self, notebook: str | None) -> str | None:
        """A notebook's path relative to the server root ("/"-separated), if inside it."""
        if not notebook:
            return None
        if self.root_dir is None:
            return notebook
        try:
            return Path(notebook).relative_to(self.root_dir).as_posix()
        except ValueError:
            return None

    def rest_record(self, record: dict[str, Any], store: Path) -> dict[str, Any]:
        """A run as the REST API shows it: the public record, plus ``path``, ``error``,
        ``created_at``, ``published``; step status ``queued`` is ``pending``."""
        from .runner.events import step_status
        from .runner.record import public_record

        out = public_record(record)
        out["path"] = self.relative_path(record["notebook"])
        out["error"] = record.get("error")
        out["created_at"] = record.get("created_at")
        for step in out["steps"].values():
            step["status"] = step_status(step["status"])
        out["published"] = _published(store, record["id"])
        return out

    def reap_dead_runs(self) -> list[str]:
        """Record runs whose process died as interrupted and stop the kernels they left
        (called when the server starts; every run does it too). Creates no store."""
        from .runner.store import Store

        if not (self.store / "runs.db").is_file():
            return []
        with Store.open(self.store) as store:
            return store.reap_dead()

    def gc(
        self, keep: int | None = None, older_than: str | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """Delete runs and artifacts that no kept run, cache entry or published version
        needs (see :mod:`jupyter_mlops.runner.gc`); ``older_than`` like ``"30d"``."""
        from .registry.published import published_run_ids
        from .runner.gc import collect_garbage, parse_duration
        from .runner.store import Store

        if keep is not None and keep < 0:
            raise InvalidInput(f"--keep must be 0 or more, got {keep}")
        seconds = parse_duration(older_than) if older_than is not None else None
        if not (self.store / "runs.db").is_file():
            return {"runs": [], "artifacts": 0, "bytes": 0, "kept": 0, "dry_run": dry_run}
        opener = Store.open_existing if dry_run else Store.open
        with opener(self.store) as store:
            protected = store.published_runs() | published_run_ids(self.registry_uri)
            return collect_garbage(store, keep, seconds, dry_run, protected)


PUBLISH_KEYS = ("name", "description", "aliases", "require", "must_beat", "promote")


def check_publish(publish: Any) -> dict[str, Any] | None:
    """A run request's ``publish`` settings, checked (gate syntax included) and completed."""
    from .registry.gates import parse_must_beat, parse_require

    if publish is None:
        return None
    if not isinstance(publish, dict):
        raise InvalidInput("'publish' must be null or an object {name, description, aliases, ...}")
    unknown = sorted(set(publish) - set(PUBLISH_KEYS))
    if unknown:
        raise InvalidInput(
            f"publish: unknown setting {unknown[0]!r} (known: {', '.join(PUBLISH_KEYS)})"
        )
    for key in ("name", "description", "must_beat", "promote"):
        if publish.get(key) is not None and not isinstance(publish[key], str):
            raise InvalidInput(f"publish.{key} must be a string")
    for key in ("aliases", "require"):
        value = publish.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"publish.{key} must be a list of strings")
    for spec in publish.get("require") or []:
        parse_require(spec)
    parse_must_beat(publish.get("must_beat") or None)
    # None = not given: the publish takes it from the notebook's saved publish settings
    return {key: publish.get(key) if publish.get(key) != "" else None for key in PUBLISH_KEYS}


PUBLISH_FILE = "publish.json"


def _publish_after_run(service: Any, store: Path, run_id: str, publish: dict[str, Any]) -> None:
    import json

    from .errors import GateRefused, MlopsError

    try:
        given = {k: v for k, v in publish.items() if k != "name" and v is not None}
        result = service.publish(run_id, publish.get("name"), **given)
        keys = ("name", "version", "uri", "aliases", "checks", "promoted", "promotion")
        outcome = {k: result.get(k) for k in keys if k in result}
    except MlopsError as exc:
        outcome = {"error": "; ".join(exc.messages), "checks": getattr(exc, "checks", None)}
        if isinstance(exc, GateRefused):
            outcome["refused"] = True
    except Exception as exc:  # noqa: BLE001 - the registry, the disk: the run still says why
        outcome = {"error": f"the publish failed: {type(exc).__name__}: {exc}", "checks": None}
    path = store / "runs" / run_id / PUBLISH_FILE
    path.write_text(json.dumps(outcome, default=str), encoding="utf-8")


def _published(store: Path, run_id: str) -> dict[str, Any] | None:
    import json

    try:
        return json.loads((store / "runs" / run_id / PUBLISH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
