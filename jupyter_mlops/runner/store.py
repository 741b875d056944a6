"""The run store: a SQLite database of runs, steps and cache entries, plus run folders.

Layout of ``<store>/``::

    runs.db                     runs, steps, the step cache, published runs (WAL mode)
    artifacts/ab/abcdef…        content-addressed step outputs (see serialization.py)
    runs/<run_id>/<step>.ipynb  executed step notebooks, logs, report.html
    runs/<run_id>/run.lock      held (``flock``) by the run's process while it runs
    runs/<run_id>/request.json  a queued run's request (read, then deleted, by its process)

Every write is one ``BEGIN IMMEDIATE`` transaction, so several run processes can share a
store. The schema is versioned (``PRAGMA user_version``) and migrated once, by the first
process that opens the store for writing. Reading (:meth:`Store.open_existing`) opens the
database read-only and changes nothing on disk; it still reports a run whose process died
as ``interrupted`` (the run's lock is free), and :meth:`Store.reap_dead` (called when a run
or the server starts) records that and stops the kernels the dead run left behind.
Paths inside the database are relative to the store folder, so a store can be moved.

The ``events`` table is an append-only log of run and step state changes and step output
(``seq`` counts per run from 1, ``id`` across the store): run processes append to it, the
Jupyter server tails it (:meth:`Store.events_after_id`) and replays it (:meth:`Store.events`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
STEP_STATUSES = ("queued", "running", "succeeded", "failed", "cached", "skipped")
ACTIVE = ("queued", "running")
LOCK_NAME = "run.lock"
REQUEST_NAME = "request.json"
INTERRUPTED_ERROR = {
    "cell": None,
    "ename": "Interrupted",
    "evalue": "the run's process died while this step ran",
    "generated": None,
}

# -- schema ----------------------------------------------------------------------------------
# Version 1 is the schema of the first releases (which did not set user_version): a store
# they wrote has these tables at user_version 0, and migrating it creates nothing new.
SCHEMA_V1 = """
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
)
"""

SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS published (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    registry_uri TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, name, version)
);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at)
"""


def _statements(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate_v1(db: sqlite3.Connection) -> None:
    _statements(db, SCHEMA_V1)
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    if "git" not in columns:  # added after the very first schema
        db.execute("ALTER TABLE runs ADD COLUMN git TEXT")


# ``…/artifacts/ab/abcdef…`` and ``…/runs/<run_id>/<file>``: the store-relative tail of a path
_STORE_TAIL = re.compile(r"(?:^|/)((?:artifacts/[0-9a-z]{2}/[0-9a-z]{64})|(?:runs/[^/]+/[^/]+))$")


def _relative_tail(path: str | None) -> str | None:
    """The store-relative form of an absolute path written by an older version."""
    if not path or not os.path.isabs(path):
        return path
    match = _STORE_TAIL.search(path)
    return match.group(1) if match else path


def _migrate_v2(db: sqlite3.Connection) -> None:
    """The published-runs table; absolute paths become store-relative (movable stores)."""
    _statements(db, SCHEMA_V2)

    def manifest(text: str | None) -> str | None:
        return json.dumps(map_manifest(json.loads(text), _relative_tail)) if text else text

    for row in db.execute("SELECT rowid, notebook, manifest FROM steps").fetchall():
        db.execute(
            "UPDATE steps SET notebook = ?, manifest = ? WHERE rowid = ?",
            (_relative_tail(row[1]), manifest(row[2]), row[0]),
        )
    for row in db.execute("SELECT key, notebook, manifest FROM cache").fetchall():
        db.execute(
            "UPDATE cache SET notebook = ?, manifest = ? WHERE key = ?",
            (_relative_tail(row[1]), manifest(row[2]), row[0]),
        )
    for row in db.execute("SELECT id, model, example FROM runs").fetchall():
        refs = [json.loads(v) if v else None for v in row[1:]]
        for ref in refs:
            if ref and ref.get("artifact"):
                ref["artifact"] = _relative_tail(ref["artifact"])
        db.execute(
            "UPDATE runs SET model = ?, example = ? WHERE id = ?",
            (*(json.dumps(r) if r else None for r in refs), row[0]),
        )


SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    time TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (run_id, seq)
)
"""


def _migrate_v3(db: sqlite3.Connection) -> None:
    """The append-only event log; a run-level error (why a run was cancelled, interrupted
    or could not start)."""
    _statements(db, SCHEMA_V3)
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    if "error" not in columns:
        db.execute("ALTER TABLE runs ADD COLUMN error TEXT")


# Schedules (``jupyter_mlops.schedules``): cron schedules of notebook runs, and one row per
# slot fired (its primary key is what makes a slot fire once, whoever ticks).
SCHEMA_V4 = """
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    notebook TEXT NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    parameters TEXT NOT NULL DEFAULT '{}',
    publish TEXT,
    catchup TEXT NOT NULL DEFAULT 'coalesce',
    paused INTEGER NOT NULL DEFAULT 0,
    next_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule_firings (
    schedule_id TEXT NOT NULL,
    slot TEXT NOT NULL,
    kind TEXT NOT NULL,
    fired_at TEXT NOT NULL,
    fired_by TEXT NOT NULL,
    lease_until TEXT,
    missed INTEGER NOT NULL DEFAULT 0,
    run_id TEXT,
    state TEXT NOT NULL,
    outcome TEXT,
    PRIMARY KEY (schedule_id, slot)
)
"""


def _migrate_v4(db: sqlite3.Connection) -> None:
    """Schedules and their firings."""
    _statements(db, SCHEMA_V4)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migrate_v1, _migrate_v2, _migrate_v3, _migrate_v4,
]  # fmt: skip
EVENT_KINDS = ("run", "step", "output")
SCHEMA_VERSION = len(MIGRATIONS)


def map_manifest(manifest: dict[str, Any], fn: Callable[[str], str | None]) -> dict[str, Any]:
    """A copy of a step manifest with ``fn`` applied to every artifact path."""
    out = dict(manifest)
    out["outputs"] = {
        var: {**entry, "path": fn(entry["path"])}
        for var, entry in (manifest.get("outputs") or {}).items()
    }
    if manifest.get("example"):
        out["example"] = {**manifest["example"], "path": fn(manifest["example"]["path"])}
    return out


def manifest_paths(manifest: dict[str, Any]) -> list[str]:
    """Every artifact path of a step manifest (outputs and example)."""
    paths = [e["path"] for e in (manifest.get("outputs") or {}).values()]
    if manifest.get("example"):
        paths.append(manifest["example"]["path"])
    return paths


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


def lock_is_held(path: Path) -> bool | None:
    """Whether some process holds the ``flock`` on ``path`` (None: no such file).

    A process that dies releases its locks at once, even while it lingers as a zombie.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return True  # cannot tell: do not call a run dead
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _intact(entry: dict[str, Any]) -> bool:
    """The artifact exists with its recorded size (its digest is checked when loaded)."""
    try:
        return os.stat(entry["path"]).st_size == entry.get("size", -1) or "size" not in entry
    except OSError:
        return False


def _not_ours(exc: sqlite3.DatabaseError) -> bool:
    return "not a database" in str(exc)


class Store:
    """A run store folder: :meth:`open` to record runs, :meth:`open_existing` to read them.

    Methods are safe to call from several threads.
    """

    def __init__(self, root: Path, db: sqlite3.Connection, readonly: bool) -> None:
        self.root = root
        self.artifacts = root / "artifacts"
        self.runs_dir = root / "runs"
        self.readonly = readonly
        self.migrated: list[int] = []  # schema versions this open applied
        self._db = db
        self._lock = threading.RLock()
        self._write_failed = False  # a write inside the current batch raised
        self._run_locks: dict[str, int] = {}
        self._bases = {root.absolute(), root.resolve()}

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> Store:
        """Open the store at ``root`` for recording runs, creating and migrating it if needed.

        :class:`InvalidInput` with one line if the folder cannot be used, is read-only, or
        ``runs.db`` is not a run database.
        """
        root = Path(root)
        try:
            return cls._open_writable(root)
        except OSError as exc:
            raise InvalidInput(
                f"cannot use the store {root}: {exc.strerror or exc}; "
                "choose another --store (or JUPYTER_MLOPS_STORE)"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise _database_error(root, exc) from None

    @classmethod
    def _open_writable(cls, root: Path) -> Store:
        from ..serialization import UnsafeFolder, clean_stale, private_dir

        for path in (root, root / "artifacts", root / "runs", root / "runs.db"):
            if path.exists() and not os.access(path, os.W_OK):
                raise InvalidInput(_readonly_message(root, path))
        try:  # owner-only, and ours: a store shared between OS users is not supported
            for folder in (root, root / "artifacts", root / "runs"):
                private_dir(folder)
        except UnsafeFolder as exc:
            raise InvalidInput(f"cannot use the store: {exc}") from None
        clean_stale(root / "artifacts")  # temporary files of writers that died
        db = sqlite3.connect(
            root / "runs.db", timeout=60, isolation_level=None, check_same_thread=False
        )
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout = 60000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            store = cls(root, db, readonly=False)
            store._migrate()
        except BaseException:
            db.close()
            raise
        return store

    def _migrate(self) -> None:
        """Apply the migrations this database lacks, once (under the write lock)."""
        if self._version() == SCHEMA_VERSION:
            return
        with self.transaction() as db:
            version = self._version()
            if version > SCHEMA_VERSION:
                raise InvalidInput(_newer_message(self.root, version))
            for number in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[number - 1](db)
                self.migrated.append(number)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @classmethod
    def open_existing(cls, root: str | os.PathLike[str]) -> Store:
        """Open a store for reading only: nothing is created, migrated or written.

        :class:`NotFound` if there is no store at ``root``.
        """
        root = Path(root)
        path = root / "runs.db"
        if not path.is_file():
            raise NotFound(f"no run store at {root} (no run has used it yet)")
        try:
            db = _connect_readonly(path)
            try:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if version > SCHEMA_VERSION:
                    raise InvalidInput(_newer_message(root, version))
                db.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
            except BaseException:
                db.close()
                raise
        except OSError as exc:
            raise InvalidInput(f"cannot read the store {root}: {exc.strerror or exc}") from None
        except sqlite3.DatabaseError as exc:
            if "no such table" in str(exc):  # created, never initialized: no run used it
                raise NotFound(f"no run store at {root} (no run has used it yet)") from None
            raise _database_error(root, exc) from None
        return cls(root, db, readonly=True)

    def close(self) -> None:
        for run_id in list(self._run_locks):
            self.release_run(run_id)
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``/``ROLLBACK``).

        Inside another transaction of the same thread (e.g. a :meth:`batch`), it joins that
        one: its writes commit or roll back with it."""
        if self.readonly:
            raise InvalidInput(f"the store {self.root} was opened for reading only")
        with self._lock:  # reentrant: the outer transaction's thread holds it
            if self._db.in_transaction:
                try:
                    yield self._db
                except BaseException:
                    self._write_failed = True  # the batch must not commit half of it
                    raise
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def batch(self) -> Iterator[sqlite3.Connection]:
        """Group the writes made inside into one transaction (one commit, one fsync): e.g.
        the records and events of the steps one pass of the scheduler finished, cached and
        started. An exception from elsewhere (a listener, a bug) keeps the writes made
        before it: each is a record of something that happened (a step that finished stays
        recorded). One from a write rolls them all back: nothing half-written is kept.
        Other threads' writes wait for the batch to end."""
        if self.readonly:
            raise InvalidInput(f"the store {self.root} was opened for reading only")
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._write_failed = False
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK" if self._write_failed else "COMMIT")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.DatabaseError:
                if not self.readonly or not getattr(self._db, "immutable", False):
                    raise
                # a writer checkpointed under our immutable read: read through its WAL instead
                self._db.close()
                self._db = _connect_readonly(self.root / "runs.db", immutable=False)
                return self._db.execute(sql, args).fetchall()

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of one read (for tables other modules own, e.g. ``schedules``)."""
        return self._query(sql, args)

    # -- paths (stored relative to the store folder) -----------------------------------------
    def relative(self, path: str | None) -> str | None:
        """``path`` relative to the store when it lies inside it (as stored in the database)."""
        if not path or not os.path.isabs(path):
            return path
        for base in self._bases:
            with contextlib.suppress(ValueError):
                return Path(path).relative_to(base).as_posix()
        return path

    def absolute(self, path: str | None) -> str | None:
        """A path read from the database, made absolute against the store folder."""
        if not path or os.path.isabs(path):
            return path
        return str(self.root.absolute() / path)

    def _stored(self, column: str, value: Any) -> Any:
        """A value as written to the database (store-relative paths, JSON)."""
        if column == "manifest" and isinstance(value, dict):
            value = map_manifest(value, self.relative)
        elif column in ("model", "example") and isinstance(value, dict) and "artifact" in value:
            value = {**value, "artifact": self.relative(value["artifact"])}
        return json.dumps(value) if isinstance(value, (dict, list)) else value

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
        """Insert a queued run owned by this process (which holds its lock until
        :meth:`release_run`), with its steps queued. Nothing is recorded if its folder
        cannot be made."""
        return self._insert_run(notebook, notebook_sha256, parameters, steps, options, git, True)

    def queue_run(
        self,
        notebook: str,
        notebook_sha256: str,
        parameters: dict[str, Any],
        steps: list[str],
        options: dict[str, Any],
        git: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> str:
        """Insert a queued run that no process owns yet (a run process :meth:`claim_run` s it
        later); ``request`` is written owner-only to ``runs/<id>/request.json`` first."""
        return self._insert_run(
            notebook, notebook_sha256, parameters, steps, options, git, False, request
        )

    def _cannot_record(self, exc: OSError) -> InvalidInput:
        return InvalidInput(
            f"cannot record a run in {self.runs_dir}: {exc.strerror or exc}; "
            "choose another --store (or JUPYTER_MLOPS_STORE)"
        )

    def _new_run_dir(self) -> tuple[str, Path]:
        """A new run id and its folder, made now: ids are the second plus 24 random bits,
        so two runs started in the same second may draw the same id; the folder is the
        claim, and a taken one means drawing again."""
        for _ in range(8):
            run_id = new_run_id()
            run_dir = self.runs_dir / run_id
            try:
                run_dir.mkdir(parents=True)
            except FileExistsError:
                continue
            except OSError as exc:
                raise self._cannot_record(exc) from None
            return run_id, run_dir
        raise InvalidInput(f"cannot record a run in {self.runs_dir}: no free run id")

    def _insert_run(
        self,
        notebook: str,
        notebook_sha256: str,
        parameters: dict[str, Any],
        steps: list[str],
        options: dict[str, Any],
        git: dict[str, Any] | None,
        owned: bool,
        request: dict[str, Any] | None = None,
    ) -> str:
        run_id, run_dir = self._new_run_dir()
        fd = None
        try:
            if request is not None:
                _write_private(run_dir / REQUEST_NAME, json.dumps(request))
            if owned:
                fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
            raise self._cannot_record(exc) from None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        pid = os.getpid() if owned else None
        try:
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
                        _process_start(pid) if pid else None,
                        socket.gethostname() if owned else None,
                        json.dumps(git) if git else None,
                    ),
                )
                db.executemany(
                    "INSERT INTO steps (run_id, name, position, status) VALUES (?, ?, ?, 'queued')",
                    [(run_id, name, i) for i, name in enumerate(steps)],
                )
                self._event(db, run_id, "run", {"status": "queued", "error": None})
        except BaseException:
            if fd is not None:
                os.close(fd)
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        if fd is not None:
            self._run_locks[run_id] = fd
        return run_id

    def claim_run(self, run_id: str) -> bool:
        """Take a queued run for this process: hold its lock, record our pid, mark it
        running. False (nothing changed) if it is no longer queued or another process has it."""
        run_dir = self.run_dir(run_id)
        try:
            fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        pid = os.getpid()
        with self.transaction() as db:
            claimed = db.execute(
                "UPDATE runs SET status = 'running', started_at = ?, pid = ?, pid_start = ?,"
                " host = ? WHERE id = ? AND status = 'queued'",
                (utcnow(), pid, _process_start(pid), socket.gethostname(), run_id),
            ).rowcount
        if not claimed:
            os.close(fd)
            return False
        self._run_locks[run_id] = fd
        return True

    def take_request(self, run_id: str) -> dict[str, Any]:
        """The request of a queued run (its file is deleted: it may hold secrets)."""
        path = self.run_dir(run_id) / REQUEST_NAME
        try:
            request = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        path.unlink(missing_ok=True)
        return request

    def settle_run(self, run_id: str, status: str, error: str | None = None) -> bool:
        """End an active run from outside its process (cancelled, interrupted, or failed
        before it started): running steps failed, queued ones skipped, events appended.
        False if the run had already ended."""
        now = utcnow()
        step_error = {**INTERRUPTED_ERROR}
        if status == "cancelled":
            step_error.update(ename="Cancelled", evalue="the run was cancelled")
        elif status != "interrupted":
            step_error.update(ename="RunEnded", evalue=error or f"the run ended ({status})")
        with self.transaction() as db:
            ended = db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?"
                " AND status IN ('queued', 'running')",
                (status, now, error, run_id),
            ).rowcount
            if not ended:
                return False
            for row in db.execute(
                "SELECT name, status FROM steps WHERE run_id = ? AND status IN"
                " ('queued', 'running') ORDER BY position",
                (run_id,),
            ).fetchall():
                new, fields = ("failed", step_error) if row[1] == "running" else ("skipped", None)
                db.execute(
                    "UPDATE steps SET status = ?, finished_at = ?, error = ?"
                    " WHERE run_id = ? AND name = ?",
                    (new, now if fields else None, json.dumps(fields) if fields else None,
                     run_id, row[0]),
                )  # fmt: skip
                self._event(db, run_id, "step", {
                    "step": row[0], "status": new, "duration_s": None,
                    "error": f"{fields['ename']}: {fields['evalue']}" if fields else None,
                    "reason": None,
                })  # fmt: skip
            self._event(db, run_id, "run", {"status": status, "error": error})
        return True

    def release_run(self, run_id: str) -> None:
        """This process is done with ``run_id``: release its lock."""
        fd = self._run_locks.pop(run_id, None)
        if fd is not None:
            os.close(fd)

    def update_run(self, run_id: str, **fields: Any) -> None:
        self._update("runs", "id = ?", (run_id,), fields)

    def update_step(self, run_id: str, name: str, **fields: Any) -> None:
        if "notebook" in fields:
            fields["notebook"] = self.relative(fields["notebook"])
        self._update("steps", "run_id = ? AND name = ?", (run_id, name), fields)

    def _update(self, table: str, where: str, key: tuple[Any, ...], fields: dict[str, Any]) -> None:
        if not fields:
            return
        columns = ", ".join(f"{column} = ?" for column in fields)
        values = tuple(self._stored(column, v) for column, v in fields.items())
        with self.transaction() as db:
            db.execute(f"UPDATE {table} SET {columns} WHERE {where}", values + key)  # noqa: S608

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    # -- liveness ----------------------------------------------------------------------------
    def _is_dead(self, row: sqlite3.Row) -> bool:
        """Whether an active run's process is gone (worked out without writing anything)."""
        if row["run_id"] in self._run_locks:
            return False
        held = lock_is_held(self.run_dir(row["run_id"]) / LOCK_NAME)
        if held is not None:
            return not held
        # runs recorded before run locks existed: the process id and its start time
        if row["host"] != socket.gethostname() or row["pid"] is None:
            return False
        start = _process_start(row["pid"])
        return start is None or (row["pid_start"] not in (None, "?") and start != row["pid_start"])

    def dead_runs(self) -> list[str]:
        """Runs still recorded as queued/running whose process has died."""
        rows = self._query(
            "SELECT id AS run_id, pid, pid_start, host FROM runs"
            " WHERE status IN ('queued', 'running')"
        )
        return [row["run_id"] for row in rows if self._is_dead(row)]

    def reap_dead(self) -> list[str]:
        """Record dead runs as ``interrupted`` and stop the kernels they left running."""
        dead = self.dead_runs()
        for run_id in dead:
            self.settle_run(run_id, "interrupted", "the run's process died")
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

    def kill_kernels(self, run_id: str) -> None:
        """Stop the kernels a run recorded (cancel; a run whose process died)."""
        self._kill_orphan_kernels(run_id)

    def _kill_orphan_kernels(self, run_id: str) -> None:
        """Kernels left running by a run whose process died (same pid *and* start time).

        Kernels run in sessions of their own: each recorded pid is killed, not a group.
        """
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
        manifest = map_manifest(json.loads(row["manifest"]), self.absolute)
        entries = list((manifest.get("outputs") or {}).values())
        if manifest.get("example"):
            entries.append(manifest["example"])
        if not all(_intact(e) for e in entries):
            return None
        return {
            "run_id": row["run_id"],
            "notebook": self.absolute(row["notebook"]),
            "manifest": manifest,
        }

    def cache_store(self, key: str, run_id: str, step: str, notebook: str, manifest: dict) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cache (key, run_id, step, notebook, manifest, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    run_id,
                    step,
                    self.relative(notebook),
                    self._stored("manifest", manifest),
                    utcnow(),
                ),
            )

    # -- published runs ----------------------------------------------------------------------
    def add_published(self, run_id: str, name: str, version: str, registry_uri: str) -> None:
        """Remember that ``run_id`` was published (``gc`` keeps what it needs)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO published (run_id, name, version, registry_uri, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (run_id, name, str(version), registry_uri, utcnow()),
            )

    def published_runs(self) -> set[str]:
        try:
            return {row[0] for row in self._query("SELECT run_id FROM published")}
        except sqlite3.OperationalError:  # a store of the first schema, read-only
            return set()

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

    # -- events ------------------------------------------------------------------------------
    def _event(self, db: sqlite3.Connection, run_id: str, kind: str, data: dict[str, Any]) -> int:
        """Append one event inside the caller's transaction; its per-run ``seq``."""
        seq = db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        db.execute(
            "INSERT INTO events (run_id, seq, kind, time, data) VALUES (?, ?, ?, ?, ?)",
            (run_id, seq, kind, utcnow(), json.dumps(data)),
        )
        return int(seq)

    def add_event(self, run_id: str, kind: str, data: dict[str, Any]) -> int:
        """Append an event of ``kind`` (run, step, output) to the run's log; its ``seq``."""
        with self.transaction() as db:
            return self._event(db, run_id, kind, data)

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """The run's events with ``seq > after``, oldest first."""
        return self._event_rows(
            "SELECT * FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, after, limit),
        )

    def last_event_id(self) -> int:
        """The store-wide id of the newest event (0: none), a cheap check for news."""
        try:
            rows = self._query("SELECT MAX(id) FROM events")
        except sqlite3.OperationalError:  # a store of an older schema, read-only
            return 0
        return int(rows[0][0] or 0)

    def events_after_id(self, last_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """Events of every run appended after store-wide id ``last_id`` (for tailing)."""
        return self._event_rows(
            "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit)
        )

    def _event_rows(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        try:
            rows = self._query(sql, args)
        except sqlite3.OperationalError:  # a store of an older schema, read-only
            return []
        return [
            {"id": row["id"], "run_id": row["run_id"], "seq": row["seq"], "kind": row["kind"],
             "time": row["time"], **json.loads(row["data"])}
            for row in rows
        ]  # fmt: skip

    def active_runs(self) -> list[dict[str, Any]]:
        """Queued and running runs, oldest first: id, status, pid, options, whether dead."""
        rows = self._query(
            "SELECT id AS run_id, status, pid, pid_start, host, options, notebook FROM runs"
            " WHERE status IN ('queued', 'running') ORDER BY created_at, rowid"
        )
        return [
            {"id": row["run_id"], "status": row["status"], "pid": row["pid"],
             "notebook": row["notebook"], "options": json.loads(row["options"] or "{}"),
             "dead": self._is_dead(row)}
            for row in rows
        ]  # fmt: skip

    def run_state(self, run_id: str) -> dict[str, Any] | None:
        """A run's recorded ``status``, ``pid`` and ``pid_start`` (no liveness check)."""
        rows = self._query("SELECT status, pid, pid_start FROM runs WHERE id = ?", (run_id,))
        return dict(rows[0]) if rows else None

    def run_notebook(self, run_id: str) -> str | None:
        """The notebook (absolute path) of a run, or None if there is no such run."""
        rows = self._query("SELECT notebook FROM runs WHERE id = ?", (run_id,))
        return rows[0][0] if rows else None

    # -- reading -----------------------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run record (see README: ``jupyter mlops run --json``)."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFound(f"no run {run_id!r} in store {self.root}")
        return self._records(rows)[0]

    def list_runs(
        self,
        notebook: str | None = None,
        limit: int = 100,
        offset: int = 0,
        before: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Runs, newest first, optionally only those of one notebook (absolute path) and/or
        with one ``status``.

        Pages: ``limit``/``offset``, or ``before`` a run id (the runs older than it).
        Two queries whatever the number of runs (runs, then all their steps).
        """
        sql, args = _runs_where(notebook=notebook, status=status, before=before)
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
        return self._records(self._query(sql, (*args, limit, offset)))

    def latest_run(
        self, notebook: str | None = None, status: str | None = "succeeded"
    ) -> dict[str, Any] | None:
        """The newest run (with ``status``, optionally of one notebook), or None."""
        sql, args = _runs_where(notebook=notebook, status=status)
        rows = self._query(sql + " ORDER BY created_at DESC, rowid DESC LIMIT 1", args)
        return self._records(rows)[0] if rows else None

    def _steps_of(self, run_ids: list[str]) -> dict[str, list[sqlite3.Row]]:
        """The steps of many runs, in batches of one query."""
        steps: dict[str, list[sqlite3.Row]] = {run_id: [] for run_id in run_ids}
        for i in range(0, len(run_ids), 500):
            batch = run_ids[i : i + 500]
            marks = ", ".join("?" * len(batch))
            for row in self._query(
                f"SELECT * FROM steps WHERE run_id IN ({marks}) ORDER BY run_id, position",  # noqa: S608
                tuple(batch),
            ):
                steps[row["run_id"]].append(row)
        return steps

    def _records(self, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
        steps = self._steps_of([row["id"] for row in rows])
        return [self._record(row, steps[row["id"]]) for row in rows]

    def _record(self, row: sqlite3.Row, step_rows: list[sqlite3.Row]) -> dict[str, Any]:
        keys = row.keys()
        status = row["status"]
        dead = status in ACTIVE and self._is_dead(
            {
                "run_id": row["id"],
                "pid": row["pid"],
                "pid_start": row["pid_start"],
                "host": row["host"],
            }  # fmt: skip
        )
        steps = {}
        for step in step_rows:
            manifest = json.loads(step["manifest"]) if step["manifest"] else {}
            step_status = step["status"]
            error = json.loads(step["error"]) if step["error"] else None
            if dead and step_status == "running":
                step_status, error = "failed", dict(INTERRUPTED_ERROR)
            elif dead and step_status == "queued":
                step_status = "skipped"
            steps[step["name"]] = {
                "status": step_status,
                "duration_s": step["duration_s"],
                "notebook": self.absolute(step["notebook"]),
                "error": error,
                "started_at": step["started_at"],
                "finished_at": step["finished_at"],
                "cached_from": step["cached_from"],
                "reason": manifest.get("reason"),
                "outputs": {v: e["digest"] for v, e in manifest.get("outputs", {}).items()},
                "placement": manifest.get("placement"),  # where it ran (Dask executor)
            }
        run_dir = self.run_dir(row["id"])
        report = run_dir / "report.html"
        return {
            "id": row["id"],
            "notebook": row["notebook"],
            "notebook_sha256": row["notebook_sha256"],
            "status": "interrupted" if dead else status,
            "parameters": json.loads(row["parameters"]),
            "created_at": row["created_at"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
            "duration_s": row["duration_s"],
            "steps": steps,
            "metrics": json.loads(row["metrics"] or "{}"),
            "model": self._artifact_ref(row["model"]),
            "example": self._artifact_ref(row["example"]),
            "environment": json.loads(row["environment"]) if row["environment"] else None,
            "options": json.loads(row["options"] or "{}"),
            "git": json.loads(row["git"]) if "git" in keys and row["git"] else None,
            "error": ("the run's process died" if dead else row["error"])
            if "error" in keys
            else None,
            "run_dir": str(run_dir),
            "report": str(report) if report.exists() else None,
        }

    def _artifact_ref(self, text: str | None) -> dict[str, Any] | None:
        if not text:
            return None
        ref = json.loads(text)
        if ref.get("artifact"):
            ref["artifact"] = self.absolute(ref["artifact"])
        return ref


class _Connection(sqlite3.Connection):
    immutable = False


def _connect_readonly(path: Path, immutable: bool | None = None) -> sqlite3.Connection:
    """A read-only connection that creates nothing next to the database.

    With a write-ahead log present (a writer is, or was, at work) SQLite reads through it
    (``mode=ro``); without one, ``mode=ro`` would create ``-wal``/``-shm`` files (or fail in
    a read-only folder), so the file is opened ``immutable`` instead.
    """
    if immutable is None:
        immutable = not Path(f"{path}-wal").exists()
    uri = path.absolute().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
    db = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None,
                         check_same_thread=False, factory=_Connection)  # fmt: skip
    db.immutable = immutable
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA query_only = 1")
    return db


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _readonly_message(root: Path, path: Path) -> str:
    return (
        f"the store {root} is read-only ({path} is not writable): reading commands (runs, "
        "show) work, but no run can be recorded there; choose another --store "
        "(or JUPYTER_MLOPS_STORE)"
    )


def _newer_message(root: Path, version: int) -> str:
    return (
        f"the store {root} was written by a newer jupyter-mlops (schema {version}, this one "
        f"knows {SCHEMA_VERSION}): upgrade jupyter-mlops"
    )


def _database_error(root: Path, exc: sqlite3.DatabaseError) -> InvalidInput:
    if _not_ours(exc):
        return InvalidInput(
            f"{root / 'runs.db'} is not a jupyter-mlops run database ({exc}); "
            "choose another --store or move that file away"
        )
    if "readonly" in str(exc) or "read-only" in str(exc):
        return InvalidInput(_readonly_message(root, root / "runs.db"))
    return InvalidInput(f"cannot use the store {root}: {exc}")


def _runs_where(
    notebook: str | None = None, status: str | None = None, before: str | None = None
) -> tuple[str, tuple[Any, ...]]:
    """``SELECT * FROM runs`` filtered by notebook, status and/or "older than run ``before``"."""
    sql = "SELECT * FROM runs WHERE 1 = 1"
    args: list[Any] = []
    if notebook is not None:
        sql += " AND notebook = ?"
        args.append(notebook)
    if status is not None:
        sql += " AND status = ?"
        args.append(status)
    if before is not None:
        sql += " AND (created_at, rowid) < (SELECT created_at, rowid FROM runs WHERE id = ?)"
        args.append(before)
    return sql, tuple(args)
