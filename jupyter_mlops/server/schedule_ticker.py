"""Firing schedules from the Jupyter server: every ``schedule_interval`` seconds, the due
slots of every store the server knows are claimed and their runs queued in the extension's
executor (never on the event loop), then started by the run manager on its thread."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any


class ScheduleTicker:
    """Fires the schedules of ``app.runs.known_stores()`` (see module doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.who = f"server {os.getpid()}@{socket.gethostname()}"
        self.busy = False
        self.problem = ""
        self.callback: Any = None

    def start(self, interval: float) -> None:
        from tornado.ioloop import PeriodicCallback

        if interval <= 0:
            return
        self.grace = 2 * interval + 1
        self.callback = PeriodicCallback(self.tick, max(50, int(interval * 1000)))
        self.callback.start()

    def stop(self) -> None:
        if self.callback is not None:
            self.callback.stop()

    async def tick(self) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            await asyncio.get_running_loop().run_in_executor(self.app._executor, self.fire)
        except Exception as exc:  # noqa: BLE001 - keep firing; say why once per problem
            if str(exc) != self.problem:
                self.app.log.warning("jupyter_mlops: schedules: %s", exc)
            self.problem = str(exc)
        else:
            self.problem = ""
        finally:
            self.busy = False

    def fire(self) -> list[dict[str, Any]]:
        """Blocking: claim and queue every due slot (the extension's executor)."""
        fired = []
        for db in self.app.runs.known_stores():
            if db.readonly:
                continue
            for firing in self.app.service.fire_due(db, self.who, self.start_run,
                                                    grace=self.grace):  # fmt: skip
                fired.append(firing)
                self.app.log.info(
                    "jupyter_mlops: schedule %s fired slot %s: run %s%s", firing["schedule_id"],
                    firing["slot"], firing["run_id"] or "-",
                    f" ({firing['error']})" if firing.get("error") else "",
                )  # fmt: skip
        return fired

    def start_run(self, root: Path, run_id: str) -> None:
        """Start the queued run on the run manager's thread."""
        self.app.runs.executor.submit(self.app.runs.start, root, run_id)
