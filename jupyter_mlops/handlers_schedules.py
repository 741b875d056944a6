"""``/mlops/api/schedules``: cron schedules of notebook runs (create, list, pause, resume,
remove, run now) and a preview of a cron expression's next firings.

Creating or changing a schedule, and running one now, is action ``execute`` on resource
``mlops`` (it runs code later, like starting a run); reading is ``read``. Store work runs in
the extension's executor, never on the event loop.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .errors import NotFound
from .handlers import MlopsHandler
from .handlers_runs import RunsBase

SCHEDULE_ID = r"(?P<schedule_id>s-[0-9a-f]+)"
_NULL = type(None)
CREATE = {"path": (str,), "cron": (str,), "timezone": (str, _NULL), "parameters": (dict, _NULL),
          "publish": (dict, bool, _NULL), "catchup": (str, _NULL)}  # fmt: skip
PREVIEW = {"cron": (str,), "timezone": (str, _NULL)}


class SchedulesBase(RunsBase):
    """Helpers: the service of the store holding a schedule."""

    def service_of(self, schedule_id: str) -> Any:
        """Blocking: a service on the known store holding ``schedule_id`` (404 if none)."""
        from .schedules import table

        app = self.extensionapp
        service = self.service
        for db in app.runs.known_stores():
            try:
                table.get(db, schedule_id)
            except NotFound:
                continue
            return dataclasses.replace(service, store=db.root)
        raise NotFound(f"no schedule {schedule_id!r} in the stores this server knows")

    def view(self, record: dict[str, Any]) -> dict[str, Any]:
        """A schedule as REST shows it: ``path`` relative to the server root."""
        return {**record, "path": self.service.relative_path(record["notebook"])}


class SchedulesHandler(SchedulesBase):
    """``GET /mlops/api/schedules[?path=NB]`` → ``{"schedules": [...]}`` of NB's store (else
    the server's); ``POST {"path", "cron", "timezone", "parameters", "publish", "catchup"}``
    → 201 with the schedule (its next 3 firings in ``next``)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.get_query_argument("path", "") or None
        service = self.service

        def listing() -> list[dict[str, Any]]:
            root = service.store_for(path)
            found = dataclasses.replace(service, store=root).schedules()
            if path:
                nb = str(service.notebook_path(path))
                found = [s for s in found if s["notebook"] == nb]
            return [self.view(s) for s in found]

        self.write_json({"schedules": await self.blocking(listing)})

    @web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        body = self.json_body(CREATE)
        if body.get("catchup") is not None and body["catchup"] not in ("coalesce", "skip"):
            raise _bad('\'catchup\' must be "coalesce" or "skip"')
        if body.get("publish") is True:
            raise _bad("'publish' must be an object of publish settings, false or null")
        service = self.service
        app = self.extensionapp

        def create() -> dict[str, Any]:
            record = service.add_schedule(
                body["path"], body["cron"], body.get("timezone") or "UTC",
                parameters=body.get("parameters"), publish=body.get("publish"),
                catchup=body.get("catchup") or "coalesce",
            )  # fmt: skip
            app.runs.store(Path(record["store"]))  # the server now fires this store's schedules
            return self.view(record)

        record = await self.blocking(create)
        await self.on_manager(app.relay.watch, Path(record["store"]))
        self.write_json(record, status=201)


class ScheduleHandler(SchedulesBase):
    """``GET /mlops/api/schedules/{id}`` → the schedule with its firings and their outcomes;
    ``DELETE`` → removes it (its runs stay)."""

    @web.authenticated
    @authorized
    async def get(self, schedule_id: str) -> None:
        record = await self.blocking(lambda: self.service_of(schedule_id).schedule(schedule_id))
        self.write_json(self.view(record))

    @web.authenticated
    @authorized("execute")
    async def delete(self, schedule_id: str) -> None:
        record = await self.blocking(
            lambda: self.service_of(schedule_id).remove_schedule(schedule_id)
        )
        self.write_json(self.view(record))


class ScheduleActionHandler(SchedulesBase):
    """``POST /mlops/api/schedules/{id}/pause|resume`` → the schedule; ``.../run`` → 202
    ``{"schedule_id", "slot", "run_id"}`` (fired now, outside the cron slots)."""

    @web.authenticated
    @authorized("execute")
    async def post(self, schedule_id: str, action: str) -> None:
        app = self.extensionapp
        if action == "run":
            ticker = app.schedules

            def fire() -> dict[str, Any]:
                return self.service_of(schedule_id).run_schedule_now(
                    schedule_id, ticker.who + " (run now)", ticker.start_run
                )

            self.write_json(await self.blocking(fire), status=202)
            return

        def change() -> dict[str, Any]:
            service = self.service_of(schedule_id)
            if action == "pause":
                return service.pause_schedule(schedule_id)
            return service.resume_schedule(schedule_id)

        self.write_json(self.view(await self.blocking(change)))


class PreviewHandler(SchedulesBase):
    """``POST /mlops/api/schedules/preview {"cron", "timezone"}`` → ``{"cron", "timezone",
    "next": [3 ISO times]}``: what the scheduler will do (its own cron library); 400 naming
    what is wrong with the expression."""

    @web.authenticated
    @authorized("read")
    async def post(self) -> None:
        body = self.json_body(PREVIEW)

        def preview() -> dict[str, Any]:
            from .schedules.cron import parse_cron
            from .service_schedules import now_utc

            cron = parse_cron(body["cron"], body.get("timezone") or "UTC")
            return {"cron": cron.expr, "timezone": cron.timezone,
                    "next": [t.isoformat() for t in cron.firings(now_utc(), 3)]}  # fmt: skip

        self.write_json(await self.blocking(preview))


def _bad(message: str) -> Exception:
    from .handlers import _error

    return _error(400, message)


def routes() -> list[tuple[str, type[MlopsHandler]]]:
    base = r"/mlops/api/schedules"
    return [
        (base, SchedulesHandler),
        (rf"{base}/preview", PreviewHandler),
        (rf"{base}/{SCHEDULE_ID}", ScheduleHandler),
        (rf"{base}/{SCHEDULE_ID}/(?P<action>pause|resume|run)", ScheduleActionHandler),
    ]
