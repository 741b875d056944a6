"""``jupyter mlops scheduler``: fire the store's schedules, in the foreground, until stopped.

For machines without JupyterLab (systemd, a container). Logs to stdout. SIGTERM or Ctrl-C
stops it cleanly: runs it started keep going in their own processes (as the server's do).
With the Jupyter server running on the same store, each slot still fires once.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from .base import Subcommand


def log(text: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    print(f"{stamp} {text}", flush=True)


class SchedulerApp(Subcommand):
    name = "scheduler"
    description = "Fire the store's schedules until stopped (SIGTERM / Ctrl-C); logs to stdout."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from .run_cmd import STORE_HELP

        parser.add_argument("--store", help=STORE_HELP)
        parser.add_argument("--registry-uri", help="MLflow registry URI for the publishes "
                            "(default: as `jupyter mlops publish` finds it)")  # fmt: skip
        parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                            help="seconds between two looks at the schedules (default 1)")  # fmt: skip
        parser.add_argument("--grace", type=float, default=None, metavar="SECONDS",
                            help="a slot older than this is missed (catch-up rules apply); "
                            "default: 2 intervals + 1 s")  # fmt: skip

    def run(self, args: argparse.Namespace) -> int:
        from ..errors import InvalidInput
        from ..server.run_manager import RunManager
        from ..service import MlopsService

        if not 0 < args.interval <= 3600:
            raise InvalidInput(f"--interval must be > 0 and at most 3600, got {args.interval}")
        grace = args.grace if args.grace is not None else 2 * args.interval + 1
        service = MlopsService.create(store=args.store, registry_uri=args.registry_uri)
        manager = RunManager(service.store, registry_uri=args.registry_uri or "",
                             start_queued=False)  # fmt: skip
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set())
                    for sig in (signal.SIGTERM, signal.SIGINT)}  # fmt: skip
        who = f"scheduler {os.getpid()}@{socket.gethostname()}"
        log(f"scheduler started ({who}): store {service.store}, every {args.interval:g} s")
        watching: dict[str, tuple[str, str]] = {}
        try:
            while not stop.is_set():
                self._tick(service, manager, who, grace, watching)
                stop.wait(args.interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            manager.close()
        log(f"scheduler stopped; runs still going: {', '.join(watching) or 'none'}")
        return 0

    def _tick(self, service: Any, manager: Any, who: str, grace: float,
              watching: dict[str, tuple[str, str]]) -> None:  # fmt: skip
        from ..errors import MlopsError
        from ..schedules.outcome import line

        try:
            db = manager.store(service.store)
            if db is None or db.readonly:
                return
            for firing in service.fire_due(db, who, manager.start, grace=grace):
                missed = f", {firing['missed']} missed slot(s)" if firing["missed"] else ""
                if firing["run_id"]:
                    watching[firing["run_id"]] = (firing["schedule_id"], firing["slot"])
                    log(f"schedule {firing['schedule_id']}: slot {firing['slot']} "
                        f"({firing['kind']}{missed}): run {firing['run_id']}")  # fmt: skip
                else:
                    log(f"schedule {firing['schedule_id']}: slot {firing['slot']}: "
                        f"{firing.get('error')}")  # fmt: skip
            manager.pump()
            for run_id, (schedule_id, slot) in list(watching.items()):
                rows = db.query("SELECT outcome FROM schedule_firings WHERE schedule_id = ? AND"
                                " slot = ? AND outcome IS NOT NULL", (schedule_id, slot))  # fmt: skip
                ended = run_id not in manager.children
                if rows or ended:
                    import json

                    outcome = json.loads(rows[0][0]) if rows else None
                    if outcome is not None or ended:
                        log(f"schedule {schedule_id}: run {run_id}: {line(outcome)}")
                        del watching[run_id]
        except MlopsError as exc:
            log(f"error: {'; '.join(exc.messages)}")
        except Exception as exc:  # noqa: BLE001 - keep firing; say what went wrong
            log(f"error: {type(exc).__name__}: {exc}")
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
