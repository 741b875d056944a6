"""The event relay: tails the stores' event logs and hands new events to jupyter_server's
event bus (``serverapp.event_logger``), so clients of ``/api/events/subscribe`` see runs
progress wherever they run (processes of this server, of a previous server, the CLI).

:meth:`EventRelay.poll` blocks (SQLite) and runs on the run manager's thread: a cheap
``MAX(id)`` per store, and the new rows only when there are some. The Tornado loop only
emits what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .run_manager import RunManager

SCHEMA_BASE = "https://events.jupyter-mlops.org"
SCHEMA_IDS = {kind: f"{SCHEMA_BASE}/{kind}/v1" for kind in ("run", "step", "output")}
SCHEMA_FILES = sorted((Path(__file__).resolve().parents[1] / "events").glob("*.yaml"))
FIELDS = {
    "run": ("status", "error"),
    "step": ("step", "status", "duration_s", "error", "reason"),
    "output": ("step", "text"),
}


def register_schemas(event_logger: Any) -> None:
    """Register our event schemas (``jupyter_mlops/events/*.yaml``) with the server."""
    for path in SCHEMA_FILES:
        event_logger.register_event_schema(path)


def emission(event: dict[str, Any], path: str | None) -> dict[str, Any]:
    """A stored event as emitted and replayed: ``schema_id`` and the schema's fields."""
    kind = event["kind"]
    data = {"run_id": event["run_id"], "path": path, "seq": event["seq"], "time": event["time"]}
    data.update({key: event.get(key) for key in FIELDS[kind]})
    return {"schema_id": SCHEMA_IDS[kind], **data}


class EventRelay:
    """Where each store's tail stands, and the root-relative path of each run's notebook."""

    def __init__(self, manager: RunManager, relative_path: Any) -> None:
        self.manager = manager
        self.relative_path = relative_path
        self.cursors: dict[Path, int] = {}
        self._paths: dict[str, str | None] = {}

    def watch(self, root: Path) -> None:
        """Relay the events that ``root`` gets from now on (all of them if it is new)."""
        root = Path(root)
        if root in self.cursors:
            return
        db = self.manager.store(root)
        self.cursors[root] = db.last_event_id() if db is not None else 0

    def watch_known(self) -> None:
        """At server start: relay what every store used before gets from now on."""
        self.manager.load_roots()
        for root in [self.manager.default_store, *self.manager.roots]:
            self.watch(root)

    def path_of(self, db: Any, run_id: str) -> str | None:
        if run_id not in self._paths:
            self._paths[run_id] = self.relative_path(db.run_notebook(run_id))
        return self._paths[run_id]

    def poll(self, limit: int = 100) -> list[dict[str, Any]]:
        """New events of every watched store, oldest first, as emissions: at most ``limit``
        per store and call (emitting one costs the loop ≈ 0.2 ms: a burst is spread over
        several ticks)."""
        out: list[dict[str, Any]] = []
        for root, cursor in list(self.cursors.items()):
            db = self.manager.store(root)
            if db is None or db.last_event_id() <= cursor:
                continue
            events = db.events_after_id(cursor, limit)
            if events:
                self.cursors[root] = events[-1]["id"]
            out += [emission(e, self.path_of(db, e["run_id"])) for e in events]
        return out
