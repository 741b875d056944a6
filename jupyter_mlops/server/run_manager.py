"""The run manager: starts queued runs as processes of their own, cancels them, and notices
when one dies.

Every method blocks (SQLite, signals, ``fork``) and runs on the manager's single thread
(:attr:`RunManager.executor`), never on the Tornado loop; one thread also means no two
decisions about the same run race inside the server. Runs of several server processes
(one after a restart) coordinate through the store: a run process *claims* its run
(``queued`` -> ``running``, atomically) and holds ``runs/<id>/run.lock`` while it lives.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Conflict, NotFound
from ..runner.store import ACTIVE, LOCK_NAME, Store, _process_start, lock_is_held

CANCEL_GRACE = 5.0  # seconds a cancelled run process gets to stop its kernels itself
PROCESS_LOG = "process.log"


@dataclass
class Child:
    """A run process this server started."""

    run_id: str
    store: Path
    proc: subprocess.Popen[bytes]


@dataclass
class RunManager:
    """Queue, processes and liveness of the server's background runs."""

    default_store: Path
    max_concurrent: int = 2
    registry_uri: str = ""
    log: Any = None
    state_file: Path | None = None  # remembers the stores used, for the next server start
    start_queued: bool = True  # False (`jupyter mlops scheduler`): start only its own runs
    stores: dict[Path, Store] = field(default_factory=dict)
    roots: list[Path] = field(default_factory=list)  # every store the server has used
    children: dict[str, Child] = field(default_factory=dict)
    cancelling: dict[str, float] = field(default_factory=dict)  # run id -> SIGKILL deadline
    _lock: threading.Lock = field(default_factory=threading.Lock)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="mlops-runs")
    )

    # -- stores ------------------------------------------------------------------------------
    def store(self, root: Path) -> Store | None:
        """The open store at ``root`` (opened for writing once), None if there is none yet.
        Thread-safe: request handlers read through it from the extension's executor."""
        with self._lock:
            return self._store(Path(root))

    def _store(self, root: Path) -> Store | None:
        if root not in self.roots:
            self.roots.append(root)
            self._remember()
        db = self.stores.get(root)
        if db is None:
            if not (root / "runs.db").is_file():
                return None
            try:
                db = Store.open(root)
            except Exception:  # noqa: BLE001 - read-only store: relay and list only
                try:
                    db = Store.open_existing(root)
                except Exception:  # noqa: BLE001
                    return None
            self.stores[root] = db
        return db

    def load_roots(self) -> None:
        """The stores a previous server process used (their runs are found again)."""
        if self.state_file is None:
            return
        try:
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        for text in saved if isinstance(saved, list) else []:
            root = Path(text)
            if (root / "runs.db").is_file() and root not in self.roots:
                self.roots.append(root)

    def _remember(self) -> None:
        if self.state_file is None:
            return
        with contextlib.suppress(OSError):
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps([str(r) for r in self.roots]), encoding="utf-8")
            os.replace(tmp, self.state_file)

    def known_stores(self) -> list[Store]:
        roots = [self.default_store, *(r for r in self.roots if r != self.default_store)]
        return [db for db in (self.store(r) for r in roots) if db is not None]

    def find(self, run_id: str) -> Store:
        """The store holding run ``run_id`` (:class:`NotFound` if none does)."""
        for db in self.known_stores():
            if db.run_notebook(run_id) is not None:
                return db
        raise NotFound(f"no run {run_id!r} in store {self.default_store}")

    # -- the queue ---------------------------------------------------------------------------
    def pump(self) -> None:
        """Notice ended processes, escalate slow cancels, reap dead runs, start queued runs
        while fewer than ``max_concurrent`` server runs are going."""
        for run_id, child in list(self.children.items()):
            if child.proc.poll() is not None:
                del self.children[run_id]
                self._ended(run_id, child.store)
        now = time.monotonic()
        for run_id, deadline in list(self.cancelling.items()):
            if now >= deadline:
                self._kill(run_id)
        busy = 0
        queued: list[tuple[Store, dict[str, Any]]] = []
        for db in self.known_stores():
            if db.readonly:
                continue
            for run in db.active_runs():
                ours = run["options"].get("origin") == "server"
                if run["id"] in self.children:
                    busy += ours
                elif run["dead"]:
                    self._ended(run["id"], db.root)
                elif not ours:
                    continue
                elif run["status"] == "running":
                    busy += 1
                else:
                    queued.append((db, run))
        for db, run in queued:
            if busy >= self.max_concurrent or not self.start_queued:
                break
            self._spawn(db, run["id"])
            busy += 1

    def start(self, root: Path, run_id: str) -> None:
        """Start queued run ``run_id`` of store ``root`` in a run process now, whatever its
        origin and the queue (the widget starts its own runs)."""
        db = self.store(root)
        if db is None:
            raise NotFound(f"no run store at {root}")
        self._spawn(db, run_id)

    def _spawn(self, db: Store, run_id: str) -> None:
        run_dir = db.run_dir(run_id)
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        with open(run_dir / PROCESS_LOG, "ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                [
                    sys.executable,
                    "-m",
                    "jupyter_mlops.server.run_process",
                    str(db.root),
                    run_id,
                    self.registry_uri,
                ],  # fmt: skip
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=str(run_dir),
                env=env,
                start_new_session=True,  # its own process group: outlives the server
            )
        self.children[run_id] = Child(run_id, db.root, proc)
        if self.log is not None:
            self.log.info("jupyter_mlops: run %s started (process %d)", run_id, proc.pid)

    def _ended(self, run_id: str, root: Path) -> None:
        """A run's process is gone: if it did not record how the run ended, do it for it."""
        cancelled = self.cancelling.pop(run_id, None) is not None
        db = self.store(root)
        if db is None or db.readonly:
            return
        state = db.run_state(run_id)
        status = state["status"] if state else None
        if status == "running" and lock_is_held(db.run_dir(run_id) / LOCK_NAME):
            return  # another process runs it
        if status == "queued" and not cancelled:
            db.settle_run(run_id, "failed", f"the run process exited before the run started "
                          f"(see {db.run_dir(run_id) / PROCESS_LOG})")  # fmt: skip
        elif status in ACTIVE:
            if cancelled:
                db.settle_run(run_id, "cancelled", "cancelled by the user")
            else:
                db.settle_run(run_id, "interrupted", "the run's process died")
        db.kill_kernels(run_id)

    # -- cancel ------------------------------------------------------------------------------
    def cancel(self, run_id: str) -> None:
        """Stop a queued or running run: SIGTERM to its process group (the run process
        stops its kernels and records ``cancelled``); SIGKILL and the recorded kernels after
        :data:`CANCEL_GRACE` seconds. :class:`Conflict` if the run has already ended."""
        db = self.find(run_id)
        record = db.get_run(run_id)
        if record["status"] not in ACTIVE:
            raise Conflict(f"run {run_id} has already ended ({record['status']})")
        if db.readonly:
            raise Conflict(f"the store {db.root} is read-only: its runs cannot be cancelled here")
        unstarted = record["status"] == "queued" and run_id not in self.children
        if unstarted and db.settle_run(run_id, "cancelled", "cancelled by the user"):
            return
        pgid = self._process_group(db, run_id)
        self.cancelling[run_id] = time.monotonic() + CANCEL_GRACE
        if pgid is None:  # spawned, not claimed yet, pid unknown: settle and stop it
            db.settle_run(run_id, "cancelled", "cancelled by the user")
            return
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGTERM)

    def _process_group(self, db: Store, run_id: str) -> int | None:
        child = self.children.get(run_id)
        if child is not None:
            return child.proc.pid
        state = db.run_state(run_id)
        if not state or state["pid"] is None:
            return None
        pid, start = state["pid"], state["pid_start"]
        if _process_start(pid) != start or pid == os.getpid():
            return None  # gone, or the pid was reused
        try:
            return os.getpgid(pid)
        except OSError:
            return None

    def _kill(self, run_id: str) -> None:
        """The cancelled run did not stop in time: kill its process group and kernels."""
        self.cancelling.pop(run_id, None)
        try:
            db = self.find(run_id)
        except NotFound:
            return
        pgid = self._process_group(db, run_id)
        if pgid is not None and pgid != os.getpgid(0):
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        child = self.children.pop(run_id, None)
        if child is not None:
            with contextlib.suppress(Exception):
                child.proc.wait(timeout=5)
        db.settle_run(run_id, "cancelled", "cancelled by the user (stopped forcibly)")
        db.kill_kernels(run_id)

    def close(self) -> None:
        """Server shutdown: run processes keep running; only our handles are dropped."""
        for db in self.stores.values():
            with contextlib.suppress(Exception):
                db.close()
        self.stores.clear()
