"""Alias moves on the embedded SQLite registry without importing MLflow (standard library).

Setting or deleting an alias is two row changes: the alias row (MLflow's
``set_registered_model_alias`` is an upsert of ``registered_model_aliases``;
``delete_registered_model_alias`` a delete) and one history tag (an upsert of
``registered_model_tags``, as ``set_registered_model_tag``). For a local ``sqlite:`` registry
of a schema revision :mod:`.fastread` knows, both happen in one transaction under the
registry lock, with MLflow's own checks (model and version exist, the alias rule of
:mod:`.names`) done first; anything else raises :class:`~.fastread.Unavailable` and the caller uses MLflow.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from ..errors import InvalidInput, NotFound
from .fastread import (
    HISTORY_PREFIX,
    KNOWN_REVISIONS,
    WORKSPACE,
    Unavailable,
    _db_path,
    model_exists,
    version_exists,
)
from .names import validate_names
from .provenance import utcnow, who


@contextmanager
def _writable(uri: str) -> Iterator[sqlite3.Connection]:
    """A read-write connection (the database must exist: nothing is created) of a known
    schema revision, inside one ``BEGIN IMMEDIATE`` transaction, under the registry lock."""
    from .client import registry_lock

    path = _db_path(uri)
    if path is None:
        raise Unavailable(uri)
    with registry_lock(uri):
        try:
            db = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=30,
                                 isolation_level=None)  # fmt: skip
        except sqlite3.Error as exc:
            raise Unavailable(str(exc)) from None
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
            if len(rows) != 1 or rows[0][0] not in KNOWN_REVISIONS:
                raise Unavailable(f"schema revision {rows}")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()


def _holder(db: sqlite3.Connection, name: str, alias: str) -> int | None:
    row = db.execute(
        "SELECT version FROM registered_model_aliases WHERE workspace = ? AND name = ? AND "
        "alias = ?",
        (WORKSPACE, name, alias),
    ).fetchone()
    return int(row[0]) if row is not None else None


def _record(db: sqlite3.Connection, name: str, event: str, **fields: Any) -> dict[str, Any]:
    """Append one history event, exactly as :func:`.history.record_event` stores it."""
    entry = {"at": utcnow(), "by": who(), "event": event, **fields}
    key = f"{HISTORY_PREFIX}{time.time_ns():020d}.{secrets.token_hex(3)}"
    db.execute(
        "INSERT OR REPLACE INTO registered_model_tags (workspace, name, key, value) "
        "VALUES (?, ?, ?, ?)",
        (WORKSPACE, name, key, json.dumps(entry, sort_keys=True)),
    )
    return entry


def set_alias(uri: str, name: str, alias: str, version: int | str) -> dict[str, Any]:
    """Point ``alias`` of ``name`` at ``version``; returns the history event."""
    if not str(version).isdigit():
        raise InvalidInput(f"version must be a number, not {version!r}")
    validate_names(name, [alias])
    with _writable(uri) as db:
        if not model_exists(db, name):
            raise NotFound(f"no registered model {name!r} in the registry {uri}")
        if not version_exists(db, name, int(version)):
            raise NotFound(f"model {name!r} has no version {version}")
        before = _holder(db, name, alias)
        db.execute(
            "INSERT OR REPLACE INTO registered_model_aliases (workspace, name, alias, version) "
            "VALUES (?, ?, ?, ?)",
            (WORKSPACE, name, alias, int(version)),
        )
        return _record(db, name, "alias-set", alias=alias, from_version=before,
                       to_version=int(version))  # fmt: skip


def delete_alias(uri: str, name: str, alias: str) -> dict[str, Any]:
    """Remove ``alias`` of ``name`` (it must exist); returns the history event."""
    with _writable(uri) as db:
        if not model_exists(db, name):
            raise NotFound(f"no registered model {name!r} in the registry {uri}")
        before = _holder(db, name, alias)
        if before is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        db.execute(
            "DELETE FROM registered_model_aliases WHERE workspace = ? AND name = ? AND alias = ?",
            (WORKSPACE, name, alias),
        )
        return _record(db, name, "alias-delete", alias=alias, from_version=before,
                       to_version=None)  # fmt: skip
