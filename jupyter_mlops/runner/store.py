"""The run store: a SQLite database of runs, steps and cache entries, plus run folders.

Layout of ``<store>/``::

    runs.db                     runs, steps and the step cache (WAL mode)
    artifacts/ab/abcdef…        content-addressed step outputs (see serialization.py)
    runs/<run_id>/<step>.ipynb  executed step notebooks, logs, report.html

Every write is one ``BEGIN IMMEDIATE`` transaction, so several run processes can share a
store. Opening a store marks runs whose process has died as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
STEP_STATUSES = ("queued", "running", "succeeded", "failed", "cached", "skipped")
ACTIVE = ("queued", "running")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    notebook TEXT NOT NULL,
    notebook_sha256 TEXT,
    status TEXT NOT NULL,
    parameters TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    duration_s REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    model TEXT,
    example TEXT,
    environment TEXT,
    pid INTEGER,
    pid_start TEXT,
    host TEXT,
    git TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_notebook ON runs (notebook, created_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs (id),
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    duration_s REAL,
    notebook TEXT,
    error TEXT,
    cache_key TEXT,
    cached_from TEXT,
    manifest TEXT,
    kernel TEXT,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS kernels (
    run_id TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT
);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    notebook TEXT NOT NULL,
    manifest TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """Sortable and unique: ``20261127-040115-3f9a1c``."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (guards against PID reuse), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "?"
        return "?"


def _intact(entry: dict[str, Any]) -> bool:
    """The artifact exists with its recorded size (its digest is checked when loaded)."""
    try:
        return os.stat(entry["path"]).st_size == entry.get("size", -1) or "size" not in entry
    except OSError:
        return False


class Store:
    """A run store folder. Use :meth:`open`; methods are safe to call from several threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.artifacts = root / "artifacts"
        self.runs_dir = root / "runs"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            root / "runs.db", timeout=60, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 60000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> Store:
        """Open (creating it if needed) the store at ``root``; :class:`InvalidInput` with one
        line if the folder cannot be used or ``runs.db`` is not a run database."""
        root = Path(root)
        try:
            return cls._open(root)
        except OSError as exc:
            raise InvalidInput(
                f"cannot use the store {root}: {exc.strerror or exc}; "
                "choose another --store (or JUPYTER_MLOPS_STORE)"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(
                f"{root / 'runs.db'} is not a jupyter-mlops run database ({exc}); "
                "choose another --store or move that file away"
            ) from None

    @classmethod
    def _open(cls, root: Path) -> Store:
        from ..serialization import UnsafeFolder, clean_stale, private_dir

        try:  # owner-only, and ours: a store shared between OS users is not supported
            for folder in (root, root / "artifacts", root / "runs"):
                private_dir(folder)
        except UnsafeFolder as exc:
            raise InvalidInput(f"cannot use the store: {exc}") from None
        clean_stale(root / "artifacts")  # temporary files of writers that died
        store = cls(root)
        with store.transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
            for column in ("git",):  # columns added after the first release of the schema
                if column not in columns:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")
        store.mark_interrupted()
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def open_existing(cls, root: str | os.PathLike[str]) -> Store:
        """Open a store for reading; :class:`NotFound` if there is none (nothing is created)."""
        if not (Path(root) / "runs.db").is_file():
            raise NotFound(f"no run store at {root} (no run has used it yet)")
        return cls.open(root)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``/``ROLLBACK``)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        notebook: str,
        notebook_sha256: str,
        parameters: dict[str, Any],
        steps: list[str],
        options: dict[str, Any],
        git: dict[str, Any] | None = None,
    ) -> str:
        """Insert a queued run owned by this process, with its steps queued."""
        run_id = new_run_id()
        pid = os.getpid()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, notebook, notebook_sha256, status, parameters, options,"
                " created_at, pid, pid_start, host, git)"
                " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    notebook,
                    notebook_sha256,
                    json.dumps(parameters),
                    json.dumps(options),
                    utcnow(),
                    pid,
                    _process_start(pid),
                    socket.gethostname(),
                    json.dumps(git) if git else None,
                ),
            )
            db.executemany(
                "INSERT INTO steps (run_id, name, position, status) VALUES (?, ?, ?, 'queued')",
                [(run_id, name, i) for i, name in enumerate(steps)],
            )
        (self.runs_dir / run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        self._update("runs", "id = ?", (run_id,), fields)

    def update_step(self, run_id: str, name: str, **fields: Any) -> None:
        self._update("steps", "run_id = ? AND name = ?", (run_id, name), fields)

    def _update(self, table: str, where: str, key: tuple[Any, ...], fields: dict[str, Any]) -> None:
        if not fields:
            return
        columns = ", ".join(f"{column} = ?" for column in fields)
        values = tuple(json.dumps(v) if isinstance(v, (dict, list)) else v for v in fields.values())
        with self.transaction() as db:
            db.execute(f"UPDATE {table} SET {columns} WHERE {where}", values + key)  # noqa: S608

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def mark_interrupted(self) -> list[str]:
        """Runs still 'queued'/'running' whose process is gone become 'interrupted'."""
        host = socket.gethostname()
        dead = []
        for row in self._query(
            "SELECT id, pid, pid_start, host FROM runs WHERE status IN ('queued', 'running')"
        ):
            if row["host"] != host or row["pid"] is None:
                continue
            start = _process_start(row["pid"])
            if start is None or (row["pid_start"] not in (None, "?") and start != row["pid_start"]):
                dead.append(row["id"])
        now = utcnow()
        for run_id in dead:
            with self.transaction() as db:
                db.execute(
                    "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE id = ?"
                    " AND status IN ('queued', 'running')",
                    (now, run_id),
                )
                db.execute(
                    "UPDATE steps SET status = 'failed', finished_at = ?, error = ? WHERE run_id = ?"
                    " AND status = 'running'",
                    (
                        now,
                        json.dumps(
                            {
                                "cell": None,
                                "ename": "Interrupted",
                                "evalue": "the run's process died while this step ran",
                            }
                        ),
                        run_id,
                    ),
                )
                db.execute(
                    "UPDATE steps SET status = 'skipped' WHERE run_id = ? AND status = 'queued'",
                    (run_id,),
                )
            self._kill_orphan_kernels(run_id)
        return dead

    def add_kernel(self, run_id: str, pid: int) -> None:
        """Remember a kernel process of a run, to stop it if the run's process dies."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO kernels (run_id, pid, pid_start) VALUES (?, ?, ?)",
                (run_id, pid, _process_start(pid)),
            )

    def forget_kernels(self, run_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM kernels WHERE run_id = ?", (run_id,))

    def _kill_orphan_kernels(self, run_id: str) -> None:
        """Kernels left running by a run whose process died (same pid *and* start time)."""
        for row in self._query("SELECT pid, pid_start FROM kernels WHERE run_id = ?", (run_id,)):
            start = _process_start(row["pid"])
            if start is not None and start == row["pid_start"] and start != "?":
                with contextlib.suppress(OSError):
                    os.kill(row["pid"], signal.SIGKILL)
        self.forget_kernels(run_id)

    # -- cache -------------------------------------------------------------------------------
    def cache_lookup(self, key: str) -> dict[str, Any] | None:
        """A previous successful execution with this key whose artifacts still exist."""
        rows = self._query("SELECT * FROM cache WHERE key = ?", (key,))
        if not rows:
            return None
        row = rows[0]
        manifest = json.loads(row["manifest"])
        entries = list(manifest.get("outputs", {}).values())
        if manifest.get("example"):
            entries.append(manifest["example"])
        if not all(_intact(e) for e in entries):
            return None
        return {"run_id": row["run_id"], "notebook": row["notebook"], "manifest": manifest}

    def cache_store(self, key: str, run_id: str, step: str, notebook: str, manifest: dict) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cache (key, run_id, step, notebook, manifest, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key, run_id, step, notebook, json.dumps(manifest), utcnow()),
            )

    def cache_refresh_reads(self, key: str, reads: dict[str, Any]) -> None:
        """Save re-verified stats of a cache entry's reads (same content, newer mtimes)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE cache SET manifest = json_set(manifest, '$.reads', json(?)) WHERE key = ?",
                (json.dumps(reads), key),
            )

    def previous_key_parts(self, run_id: str, step: str) -> dict[str, str] | None:
        """The cache-key parts of ``step``'s last execution in an earlier run of the same
        notebook (to say what changed), or None."""
        rows = self._query(
            "SELECT s.manifest FROM steps s JOIN runs r ON r.id = s.run_id"
            " WHERE r.notebook = (SELECT notebook FROM runs WHERE id = ?) AND s.name = ?"
            " AND s.run_id != ? AND s.manifest LIKE '%\"key_parts\"%'"
            " ORDER BY r.created_at DESC, r.rowid DESC LIMIT 1",
            (run_id, step, run_id),
        )
        return json.loads(rows[0]["manifest"]).get("key_parts") if rows else None

    # -- reading -----------------------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run record (see README: ``jupyter mlops run --json``)."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFound(f"no run {run_id!r} in store {self.root}")
        return self._record(rows[0])

    def list_runs(self, notebook: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Runs, newest first, optionally only those of one notebook (absolute path)."""
        if notebook is None:
            rows = self._query(
                "SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
            )
        else:
            rows = self._query(
                "SELECT * FROM runs WHERE notebook = ? ORDER BY created_at DESC, rowid DESC"
                " LIMIT ?",
                (notebook, limit),
            )
        return [self._record(row) for row in rows]

    def latest_run(
        self, notebook: str | None = None, status: str | None = "succeeded"
    ) -> dict[str, Any] | None:
        """The newest run (with ``status``, optionally of one notebook), or None."""
        sql = "SELECT * FROM runs WHERE 1 = 1"
        args: list[Any] = []
        if notebook is not None:
            sql += " AND notebook = ?"
            args.append(notebook)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        rows = self._query(sql + " ORDER BY created_at DESC, rowid DESC LIMIT 1", tuple(args))
        return self._record(rows[0]) if rows else None

    def _record(self, row: sqlite3.Row) -> dict[str, Any]:
        steps = {}
        for step in self._query(
            "SELECT * FROM steps WHERE run_id = ? ORDER BY position", (row["id"],)
        ):
            manifest = json.loads(step["manifest"]) if step["manifest"] else {}
            steps[step["name"]] = {
                "status": step["status"],
                "duration_s": step["duration_s"],
                "notebook": step["notebook"],
                "error": json.loads(step["error"]) if step["error"] else None,
                "started_at": step["started_at"],
                "finished_at": step["finished_at"],
                "cached_from": step["cached_from"],
                "reason": manifest.get("reason"),
                "outputs": {v: e["digest"] for v, e in manifest.get("outputs", {}).items()},
            }
        run_dir = self.run_dir(row["id"])
        report = run_dir / "report.html"
        return {
            "id": row["id"],
            "notebook": row["notebook"],
            "notebook_sha256": row["notebook_sha256"],
            "status": row["status"],
            "parameters": json.loads(row["parameters"]),
            "created_at": row["created_at"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
            "duration_s": row["duration_s"],
            "steps": steps,
            "metrics": json.loads(row["metrics"] or "{}"),
            "model": json.loads(row["model"]) if row["model"] else None,
            "example": json.loads(row["example"]) if row["example"] else None,
            "environment": json.loads(row["environment"]) if row["environment"] else None,
            "options": json.loads(row["options"] or "{}"),
            "git": json.loads(row["git"]) if row["git"] else None,
            "run_dir": str(run_dir),
            "report": str(report) if report.exists() else None,
        }
