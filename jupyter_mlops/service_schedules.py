"""Schedule operations of :class:`~jupyter_mlops.service.MlopsService`: add, list, pause,
resume, remove, run now, and firing the due slots (the server extension and ``jupyter mlops
scheduler`` call :meth:`ScheduleOperations.fire_due`).

A fired slot queues an ordinary run (origin ``schedule``) whose request names the firing;
its run process publishes it (with ``--promote``, ``--must-beat`` decides only whether the
alias moves) and records the outcome in the firing (:mod:`.schedules.outcome`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import InvalidInput, MlopsError, NotFound

Starter = Callable[[Path, str], None]  # start queued run (store, run id) in a run process


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class ScheduleOperations:
    """Mixin: uses ``self.store``, ``notebook_path``, ``for_notebook``, ``queue_run``."""

    store: Path
    registry_uri: str
    notebook_path: Callable[..., Path]
    for_notebook: Callable[[Path | None], Any]
    explicit_registry: str | None

    # -- changing schedules ------------------------------------------------------------------
    def add_schedule(
        self,
        path: str,
        cron: str,
        timezone_name: str = "UTC",
        *,
        parameters: dict[str, Any] | None = None,
        parameter_texts: list[tuple[str, str]] | None = None,
        publish: dict[str, Any] | bool | None = None,
        catchup: str = "coalesce",
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Check everything (notebook, cron, time zone, parameters, publish options) and
        record a schedule in the notebook's store. ``publish``: None = the notebook's saved
        publish settings when it has some (else no publish), False = never, a dict = these
        options (None values from the saved settings). Returns :meth:`schedule`'s view."""
        from .runner.params import convert_text, resolve_parameters
        from .runner.run import prepare_run
        from .runner.store import Store
        from .schedules import table
        from .schedules.cron import check_catchup, parse_cron
        from .service_runs import check_publish

        spec = parse_cron(cron, timezone_name)
        check_catchup(catchup)
        notebook = self.notebook_path(path)
        if parameters is not None and not isinstance(parameters, dict):
            raise InvalidInput("'parameters' must be an object mapping parameter names to values")
        prepared = prepare_run(notebook, parameters, parameter_texts=parameter_texts)
        declared = prepared.pipeline.parameters
        values = dict(parameters or {})
        for name, text in parameter_texts or []:  # kept as given (env:VAR stays a reference)
            values[name] = convert_text(name, declared[name]["type"], text)
        resolve_parameters(declared, values)
        if publish is not False:
            publish = check_publish(publish)
            if publish is not None:  # names, aliases and gate syntax, as `run --publish`
                self.publish_options(path, **publish)  # type: ignore[attr-defined]
        root = self.for_notebook(notebook).store
        from .settings import prepare_store

        with Store.open(prepare_store(root)) as db:
            record = table.add(db, str(notebook), spec, values, publish, catchup,
                               now or now_utc())  # fmt: skip
            return self._view(db, record, now)

    def pause_schedule(self, schedule_id: str, now: datetime | None = None) -> dict[str, Any]:
        return self._change(schedule_id, lambda db, t: _table().set_paused(db, schedule_id,
                                                                         True, t), now)  # fmt: skip

    def resume_schedule(self, schedule_id: str, now: datetime | None = None) -> dict[str, Any]:
        """Fire again from the first slot after now (slots of the pause do not fire)."""
        return self._change(schedule_id, lambda db, t: _table().set_paused(db, schedule_id,
                                                                         False, t), now)  # fmt: skip

    def remove_schedule(self, schedule_id: str) -> dict[str, Any]:
        """Delete a schedule and its firings (its runs stay)."""
        from .runner.store import Store

        with Store.open(self._schedule_store(schedule_id)) as db:
            return {**_table().remove(db, schedule_id), "removed": True}

    def _change(self, schedule_id: str, fn: Any, now: datetime | None) -> dict[str, Any]:
        from .runner.store import Store

        with Store.open(self._schedule_store(schedule_id)) as db:
            record = fn(db, now or now_utc())
            return self._view(db, record, now)

    def _schedule_store(self, schedule_id: str) -> Path:
        """The store holding ``schedule_id`` (this service's store)."""
        if not (self.store / "runs.db").is_file():
            raise NotFound(f"no schedule {schedule_id!r} in store {self.store} (no store yet)")
        return self.store

    # -- reading -----------------------------------------------------------------------------
    def schedules(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every schedule of the store, with its next firings and last outcome; reads only."""
        from .runner.store import Store

        if not (self.store / "runs.db").is_file():
            return []
        with Store.open_existing(self.store) as db:
            views = [self._view(db, s, now, history=20) for s in _table().list_all(db)]
        for view in views:  # the last outcome may be older than the newest (running) firing
            view["firings"] = view["firings"][:3]
        return views

    def schedule(self, schedule_id: str, now: datetime | None = None) -> dict[str, Any]:
        """One schedule: its settings, next 3 firings, and its firings with their outcomes."""
        from .runner.store import Store

        if not (self.store / "runs.db").is_file():
            raise NotFound(f"no schedule {schedule_id!r} in store {self.store} (no store yet)")
        with Store.open_existing(self.store) as db:
            return self._view(db, _table().get(db, schedule_id), now, history=50)

    def _view(self, db: Any, record: dict[str, Any], now: datetime | None,
              history: int = 0) -> dict[str, Any]:  # fmt: skip
        from .schedules.cron import Cron, parse_time

        cron = Cron(record["cron"], record["timezone"])
        after = max(now or now_utc(), parse_time(record["next_at"]))
        start = parse_time(record["next_at"])
        upcoming = [] if record["paused"] else [start, *cron.firings(after, 2)][:3]
        view = {**record, "next": [t.astimezone(cron_zone(record)).isoformat() for t in upcoming],
                "store": str(db.root)}  # fmt: skip
        if history:
            view["firings"] = [_settled(db, f) for f in _table().firings(db, record["id"], history)]
            view["last_outcome"] = next(  # a slot skipped for a busy run says nothing new
                (f["outcome"] for f in view["firings"]
                 if f["outcome"] and not f["outcome"].get("busy")), None
            )  # fmt: skip
        return view

    # -- firing ------------------------------------------------------------------------------
    def fire_due(
        self, db: Any, who: str, start: Starter, now: datetime | None = None, grace: float = 5.0
    ) -> list[dict[str, Any]]:
        """Fire every slot due by ``now`` in store ``db`` (an open writable Store) that no
        other scheduler fired: queue its run and hand it to ``start``. Returns the firings."""
        from .schedules import table

        now = now or now_utc()
        if not table.due(db, now):
            return []
        return [self._fire(db, f, start) for f in table.claim_due(db, now, who, grace)]

    def run_schedule_now(
        self, schedule_id: str, who: str, start: Starter, now: datetime | None = None
    ) -> dict[str, Any]:
        """Fire ``schedule_id`` once now, outside its cron slots (paused or not)."""
        from .runner.store import Store

        with Store.open(self._schedule_store(schedule_id)) as db:
            firing = _table().claim_manual(db, schedule_id, now or now_utc(), who)
            return self._fire(db, firing, start)

    def _fire(self, db: Any, firing: Any, start: Starter) -> dict[str, Any]:
        from .schedules import table
        from .schedules.outcome import not_queued

        schedule = firing.schedule
        done = {"schedule_id": schedule["id"], "slot": firing.slot, "kind": firing.kind,
                "missed": firing.missed, "run_id": None}  # fmt: skip
        runner = self._firing_service(db.root)
        try:
            publish = _publish_request(schedule)
            run_id, root = runner.queue_run(
                schedule["notebook"], schedule["parameters"], publish=publish,
                origin="schedule", schedule={"id": schedule["id"], "slot": firing.slot},
            )  # fmt: skip
        except MlopsError as exc:
            message = f"the run could not be queued: {'; '.join(exc.messages)}"
            table.finish(db, schedule["id"], firing.slot, not_queued(message))
            return {**done, "error": message}
        table.started(db, schedule["id"], firing.slot, run_id)
        start(Path(root), run_id)
        return {**done, "run_id": run_id}

    def _firing_service(self, root: Path) -> Any:
        """A service acting on store ``root`` for any notebook path (the schedule's notebook
        was checked when the schedule was made)."""
        from .service import MlopsService

        return MlopsService.create(store=root, registry_uri=self.explicit_registry)


def cron_zone(record: dict[str, Any]) -> Any:
    from .schedules.cron import zone

    return zone(record["timezone"])


def _table() -> Any:
    from .schedules import table

    return table


def _publish_request(schedule: dict[str, Any]) -> dict[str, Any] | None:
    """The run's publish settings: the schedule's, or (none given) the notebook's saved
    settings if it has some."""
    publish = schedule.get("publish")
    if publish is False:
        return None
    if publish is not None:
        return publish
    from .compiler.notebook_io import load_notebook
    from .registry.publish_defaults import read_settings

    try:
        nb, _ = load_notebook(schedule["notebook"])
    except MlopsError:
        return None  # the run itself will say what is wrong with the notebook
    settings, _problems = read_settings(nb, schedule["notebook"])
    return {} if settings else None


def _settled(db: Any, firing: dict[str, Any]) -> dict[str, Any]:
    """A firing whose run ended without recording an outcome (its process was killed, or it
    was cancelled before it started) gets one from the run's record."""
    from .schedules.outcome import of_run

    if firing["outcome"] is not None or not firing["run_id"]:
        return firing
    try:
        run = db.get_run(firing["run_id"])
    except NotFound:
        return firing
    if run["status"] in ("failed", "cancelled", "interrupted"):
        return {**firing, "state": "done", "outcome": of_run(run, None)}
    return {**firing, "run_status": run["status"]}
