"""Read-only fast path on the embedded SQLite registry (standard library only).

Importing MLflow costs about 2 s; listing models, history or the holder of an alias needs a
few rows. For a local ``sqlite:`` registry whose schema revision (alembic's
``alembic_version``) is one these queries were written and tested against, they are read
with ``sqlite3`` in read-only mode (nothing is created, nothing is written). Any other
revision, a server URI or an error returns ``None`` and the caller uses the MLflow client.
The answers have exactly the shape of :mod:`jupyter_mlops.registry.catalog`'s.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from ..errors import NotFound

# MLflow schema revisions whose registry tables these queries match (MLflow 3.x with
# workspaces); add a revision only after checking the tables it changes.
KNOWN_REVISIONS = frozenset({"dc11669786a5"})
DELETED = "Deleted_Internal"  # MLflow's internal stage of deleted versions
WORKSPACE = "default"
METRICS_TAG = "mlops.metrics"
RUN_ID_TAG = "mlops.run_id"
HISTORY_PREFIX = "mlops.history."


class Unavailable(Exception):
    """The fast path cannot answer: use the MLflow client."""


def _db_path(uri: str) -> str | None:
    if not uri.startswith("sqlite:"):
        return None
    path = unquote(urlparse(uri).path)
    path = path[1:] if path.startswith("/") else path
    return None if not path or path == ":memory:" else path


def sqlite_file(uri: str) -> Path | None:
    """The database file of a local ``sqlite:`` URI, else None."""
    path = _db_path(uri)
    return Path(path).absolute() if path is not None else None


def require_registry(uri: str, store: Path | None = None, name: str | None = None) -> None:
    """:class:`NotFound` naming ``uri`` (and ``store``, model ``name``) when it is a local
    SQLite registry that does not exist: reads never create one."""
    db = sqlite_file(uri)
    if db is None or db.is_file():
        return
    where = f" (store {store})" if store is not None else ""
    what = f"no registered model {name!r}: " if name else ""
    raise NotFound(
        f"{what}no model registry at {uri}{where}: nothing has been published there; publish "
        "a run first, or point elsewhere with --store, --registry-uri or "
        "JUPYTER_MLOPS_REGISTRY_URI (`jupyter mlops info` shows which store and registry are used)"
    )


@contextmanager
def connect(uri: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection when ``uri`` is a local SQLite registry of a known revision;
    raises :class:`Unavailable` otherwise."""
    path = _db_path(uri)
    if path is None:
        raise Unavailable(uri)
    try:
        db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise Unavailable(str(exc)) from None
    try:
        try:
            rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error as exc:
            raise Unavailable(str(exc)) from None
        if len(rows) != 1 or rows[0][0] not in KNOWN_REVISIONS:
            raise Unavailable(f"schema revision {rows}")
        db.row_factory = sqlite3.Row
        yield db
    except sqlite3.Error as exc:
        raise Unavailable(str(exc)) from None
    finally:
        db.close()


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def model_exists(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM registered_models WHERE workspace = ? AND name = ?", (WORKSPACE, name)
    ).fetchone()
    return row is not None


def version_exists(db: sqlite3.Connection, name: str, version: int) -> bool:
    row = db.execute(
        "SELECT 1 FROM model_versions WHERE workspace = ? AND name = ? AND version = ? AND "
        "(current_stage IS NULL OR current_stage != ?)",
        (WORKSPACE, name, version, DELETED),
    ).fetchone()
    return row is not None


def _aliases(db: sqlite3.Connection, name: str) -> dict[str, int]:
    rows = db.execute(
        "SELECT alias, version FROM registered_model_aliases WHERE workspace = ? AND name = ?",
        (WORKSPACE, name),
    )
    return {r["alias"]: int(r["version"]) for r in rows}


def _version_tags(db: sqlite3.Connection, name: str, version: int) -> dict[str, str]:
    rows = db.execute(
        "SELECT key, value FROM model_version_tags WHERE workspace = ? AND name = ? AND version = ?",
        (WORKSPACE, name, version),
    )
    return {r["key"]: r["value"] for r in rows}


def version_metrics(db: sqlite3.Connection, tags: dict[str, str], run_id: str | None) -> dict:
    """Metrics recorded on a version (our tag), else those of its MLflow run."""
    if METRICS_TAG in tags:
        return json.loads(tags[METRICS_TAG])
    if not run_id:
        return {}
    rows = db.execute("SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (run_id,))
    return {r["key"]: r["value"] for r in rows}


def _describe_version(db: sqlite3.Connection, row: sqlite3.Row, aliases: list[str]) -> dict:
    tags = _version_tags(db, row["name"], row["version"])
    return {
        "version": int(row["version"]),
        "created_at": _iso(row["creation_time"]),
        "status": row["status"],
        "aliases": sorted(aliases),
        "metrics": version_metrics(db, tags, row["run_id"]),
        "run_id": tags.get(RUN_ID_TAG),
        "mlflow_run_id": row["run_id"],
        "flavor": tags.get("mlops.flavor"),
        "source": row["source"],
        "uri": f"models:/{row['name']}/{row['version']}",
    }


def describe_model(db: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """``catalog.describe_model``'s answer, or None when there is no such model."""
    rm = db.execute(
        "SELECT name, description FROM registered_models WHERE workspace = ? AND name = ?",
        (WORKSPACE, name),
    ).fetchone()
    if rm is None:
        return None
    aliases = _aliases(db, name)
    by_version: dict[int, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    rows = db.execute(
        "SELECT * FROM model_versions WHERE workspace = ? AND name = ? AND "
        "(current_stage IS NULL OR current_stage != ?) ORDER BY version DESC",
        (WORKSPACE, name, DELETED),
    ).fetchall()
    versions = [_describe_version(db, r, by_version.get(int(r["version"]), [])) for r in rows]
    return {
        "name": rm["name"],
        "description": rm["description"] or "",
        "aliases": dict(sorted(aliases.items())),
        "latest_version": versions[0]["version"] if versions else None,
        "versions": versions,
    }


def list_models(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """All models, most recently updated first (as ``catalog.list_models``)."""
    names = [
        r["name"]
        for r in db.execute(
            "SELECT name FROM registered_models WHERE workspace = ? "
            "ORDER BY last_updated_time DESC",
            (WORKSPACE,),
        )
    ]
    return [m for m in (describe_model(db, n) for n in names) if m is not None]


def history_events(db: sqlite3.Connection, name: str) -> list[dict[str, Any]]:
    """The model's history events, oldest first (see ``registry.history``)."""
    rows = db.execute(
        "SELECT key, value FROM registered_model_tags WHERE workspace = ? AND name = ? "
        "AND substr(key, 1, ?) = ? ORDER BY key",
        (WORKSPACE, name, len(HISTORY_PREFIX), HISTORY_PREFIX),
    )
    events = []
    for r in rows:
        try:
            events.append(json.loads(r["value"]))
        except ValueError:
            continue
    return events


def alias_holder(db: sqlite3.Connection, name: str, alias: str) -> tuple[int, dict] | None:
    """(version, metrics) of the version holding ``alias``, or None."""
    row = db.execute(
        "SELECT v.version, v.run_id FROM registered_model_aliases a JOIN model_versions v "
        "ON v.workspace = a.workspace AND v.name = a.name AND v.version = a.version "
        "WHERE a.workspace = ? AND a.name = ? AND a.alias = ?",
        (WORKSPACE, name, alias),
    ).fetchone()
    if row is None:
        return None
    tags = _version_tags(db, name, row["version"])
    return int(row["version"]), version_metrics(db, tags, row["run_id"])


def version_cards(db: sqlite3.Connection, name: str) -> dict[int, str]:
    """``{version: model card (Markdown)}`` of ``name`` (the versions' descriptions)."""
    rows = db.execute(
        "SELECT version, description FROM model_versions WHERE workspace = ? AND name = ?",
        (WORKSPACE, name),
    )
    return {int(r["version"]): r["description"] or "" for r in rows}
