"""``/mlops/api/runs``: background runs, their steps, logs, reports and events.

Starting and cancelling a run is action ``execute`` on resource ``mlops`` (it runs code,
like a kernel); everything else ``read``. Store reads run in the extension's executor,
queue and process decisions on the run manager's thread: never on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .errors import InvalidInput, MlopsError, NotFound
from .handlers import MlopsHandler, MlopsHTTPError, _error, _reason

RUN_ID = r"(?P<run_id>[0-9A-Za-z_.-]+)"
STEP = r"(?P<step>[^/]+)"
LOG_CHUNK = 1 << 20  # bytes of step log per answer
_NULL = type(None)
RUN_REQUEST = {"path": (str,), "parameters": (dict, _NULL), "use_cache": (bool, _NULL),
               "isolate": (bool, _NULL), "publish": (dict, _NULL),
               "executor": (str, _NULL)}  # fmt: skip
CANCEL_WAIT = 3.0  # seconds the cancel route waits for the run to record its end


class RunsBase(MlopsHandler):
    """Helpers: the JSON body, integer query arguments, calls on the run manager.

    Reads run in the extension's executor (a long listing never delays the event relay);
    decisions (queue, cancel) on the run manager's thread."""

    def int_argument(self, name: str, default: int, minimum: int = 0) -> int:
        text = self.get_query_argument(name, "")
        if not text:
            return default
        try:
            value = int(text)
        except ValueError:
            raise _error(400, f"{name!r} must be an integer, got {text!r}") from None
        if value < minimum:
            raise _error(400, f"{name!r} must be at least {minimum}, got {value}")
        return value

    async def on_manager(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the run manager's thread; user errors become 4xx."""
        return await self._answer(self.extensionapp.run_manager, fn, *args)

    async def blocking(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in the extension's executor; user errors become 4xx."""
        return await self._answer(self.extensionapp.run_blocking, fn, *args)

    @staticmethod
    async def _answer(runner: Any, fn: Any, *args: Any) -> Any:
        try:
            return await runner(fn, *args)
        except MlopsError as exc:
            raise MlopsHTTPError(exc.http_status, _reason(exc), exc.details()) from None

    async def record(self, run_id: str) -> dict[str, Any]:
        """The REST record of run ``run_id`` (404 if no known store has it)."""
        app = self.extensionapp

        def read() -> dict[str, Any]:
            db = app.runs.find(run_id)
            return app.service.rest_record(db.get_run(run_id), db.root)

        return await self.blocking(read)


class RunsHandler(RunsBase):
    """``GET /mlops/api/runs?path=&status=&limit=&before=`` → ``{"runs", "next_before"}``,
    newest first; ``POST /mlops/api/runs {"path", "parameters", "use_cache", "isolate",
    "publish"}`` → 202 with the queued run's record."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.get_query_argument("path", "") or None
        status = self.get_query_argument("status", "") or None
        before = self.get_query_argument("before", "") or None
        limit = self.int_argument("limit", 50, minimum=1)
        limit = min(limit, 1000)
        if status is not None and status not in STATUSES:
            raise _error(400, f"'status' must be one of {', '.join(STATUSES)}, got {status!r}")
        app = self.extensionapp
        service = self.service

        def listing() -> dict[str, Any]:
            root = service.store_for(path)
            nb = str(service.notebook_path(path)) if path else None
            db = app.runs.store(root)
            if db is None:
                return {"runs": [], "next_before": None}
            if before is not None and db.run_notebook(before) is None:
                raise NotFound(f"no run {before!r} in store {root} ('before')")
            records = db.list_runs(nb, limit + 1, before=before, status=status)
            more = len(records) > limit
            runs = [service.rest_record(r, root) for r in records[:limit]]
            return {"runs": runs, "next_before": runs[-1]["id"] if more else None}

        self.write_json(await self.blocking(listing))

    @web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        body = self.json_body(RUN_REQUEST)
        path = body["path"]
        if not path:
            raise _error(400, "'path' (the notebook, relative to the server root) is required")
        body = {k: v for k, v in body.items() if v is not None}
        app = self.extensionapp
        service = self.service
        root = await self.blocking(service.store_for, path)
        await self.on_manager(app.relay.watch, root)
        run_id, store = await self.blocking(
            _queue, service, body, app.jobs or None, app.step_timeout or None
        )
        await self.on_manager(self.extensionapp.runs.pump)
        self.write_json(await self.record(run_id), status=202)


def _queue(service: Any, body: dict[str, Any], jobs: int | None, timeout: float | None) -> Any:
    return service.queue_run(
        body["path"], body.get("parameters"), use_cache=body.get("use_cache", True),
        isolate=body.get("isolate", False), publish=body.get("publish"), jobs=jobs,
        step_timeout=timeout, executor=body.get("executor"),
    )  # fmt: skip


STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")


class RunHandler(RunsBase):
    """``GET /mlops/api/runs/{id}`` → the run record."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.write_json(await self.record(run_id))


class CancelHandler(RunsBase):
    """``POST /mlops/api/runs/{id}/cancel`` → 202 with the record (409 if it has ended)."""

    @web.authenticated
    @authorized("execute")
    async def post(self, run_id: str) -> None:
        await self.on_manager(self.extensionapp.runs.cancel, run_id)
        deadline = time.monotonic() + CANCEL_WAIT
        record = await self.record(run_id)
        while record["status"] in ("queued", "running") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            await self.on_manager(self.extensionapp.runs.pump)
            record = await self.record(run_id)
        self.write_json(record, status=202)


class EventsHandler(RunsBase):
    """``GET /mlops/api/runs/{id}/events?after=SEQ`` → ``{"events", "last"}`` (the same
    shapes as the event bus emissions)."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        after = self.int_argument("after", 0)
        limit = min(self.int_argument("limit", 1000, minimum=1), 5000)
        app = self.extensionapp

        def replay() -> dict[str, Any]:
            from .server.event_relay import emission

            db = app.runs.find(run_id)
            path = app.relay.path_of(db, run_id)
            events = [emission(e, path) for e in db.events(run_id, after, limit)]
            return {"events": events, "last": events[-1]["seq"] if events else after}

        self.write_json(await self.blocking(replay))


class StepNotebookHandler(RunsBase):
    """``GET /mlops/api/runs/{id}/steps/{step}/notebook`` → the executed step notebook."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str, step: str) -> None:
        record = await self.record(run_id)
        info = _step(record, step)
        path = info.get("notebook")
        if not path:
            raise _error(
                404, f"step {step!r} of run {run_id} has no notebook yet ({info['status']})"
            )
        text = await self.blocking(_read_text, Path(path), f"the notebook of step {step!r}")
        self.set_header("Content-Type", "application/json")
        self.finish(text)


class StepLogHandler(RunsBase):
    """``GET /mlops/api/runs/{id}/steps/{step}/log?offset=N`` → ``{"text", "offset",
    "complete"}``: the step's output from byte N (a running step's too)."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str, step: str) -> None:
        offset = self.int_argument("offset", 0)
        record = await self.record(run_id)
        info = _step(record, step)
        log = Path(record["run_dir"]) / f"{step}.log"
        finished = info["status"] not in ("pending", "running")
        text, end = await self.blocking(_read_log, log, offset)
        size = await self.blocking(_size, log)
        self.write_json({"text": text, "offset": end, "complete": finished and end >= size})


class ReportHandler(RunsBase):
    """``GET /mlops/api/runs/{id}/report`` → the HTML report, ``Content-Security-Policy:
    sandbox`` (its scripts never act with the user's Jupyter credentials)."""

    @property
    def content_security_policy(self) -> str:
        return "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        record = await self.record(run_id)
        report = Path(record["run_dir"]) / "report.html"
        text = await self.blocking(_read_text, report, f"the report of run {run_id}")
        self.finish(text, set_content_type="text/html; charset=utf-8")


def _step(record: dict[str, Any], step: str) -> dict[str, Any]:
    info = record["steps"].get(step)
    if info is None:
        names = ", ".join(record["steps"]) or "none"
        raise _error(404, f"run {record['id']} has no step {step!r} (steps: {names})")
    return info


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{what} does not exist (yet)") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {what}: {exc.strerror}") from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_log(path: Path, offset: int) -> tuple[str, int]:
    """Text from byte ``offset`` (at most :data:`LOG_CHUNK` bytes, whole UTF-8 characters)
    and the offset after it."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(LOG_CHUNK)
    except FileNotFoundError:
        return "", offset
    for cut in range(len(data), max(len(data) - 4, -1), -1):  # a character split at the end
        try:
            return data[:cut].decode("utf-8"), offset + cut
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace"), offset + len(data)


def routes() -> list[tuple[str, type[MlopsHandler]]]:
    base = r"/mlops/api/runs"
    return [
        (base, RunsHandler),
        (rf"{base}/{RUN_ID}", RunHandler),
        (rf"{base}/{RUN_ID}/cancel", CancelHandler),
        (rf"{base}/{RUN_ID}/events", EventsHandler),
        (rf"{base}/{RUN_ID}/steps/{STEP}/notebook", StepNotebookHandler),
        (rf"{base}/{RUN_ID}/steps/{STEP}/log", StepLogHandler),
        (rf"{base}/{RUN_ID}/report", ReportHandler),
    ]
