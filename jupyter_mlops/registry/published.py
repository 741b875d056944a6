"""Which pipeline runs a local SQLite registry has published, read without importing MLflow."""

from __future__ import annotations

import sqlite3

from .catalog import RUN_ID_TAG
from .client import sqlite_path


def published_run_ids(registry_uri: str) -> set[str]:
    """Run ids tagged on model versions of a local ``sqlite:///`` registry (else empty)."""
    db = sqlite_path(registry_uri)
    if db is None or not db.is_file():
        return set()
    try:
        conn = sqlite3.connect(db.absolute().as_uri() + "?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT value FROM model_version_tags WHERE key = ?", (RUN_ID_TAG,)
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return set()
    return {row[0] for row in rows}
