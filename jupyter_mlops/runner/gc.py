"""``jupyter mlops gc``: delete runs and artifacts that nothing kept needs.

Kept: the ``keep`` newest runs and those younger than ``older_than`` (with neither, every
run), runs in progress, published runs (``protected``), and, transitively, the runs whose
executed notebooks or cache entries a kept run uses. Cache entries survive when their run
is kept or a kept run's step has their key (so re-running a kept run still hits the cache).
Artifacts survive when a kept run or a kept cache entry refers to them; every other file
under ``artifacts/`` and the folders of dropped runs are deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..durations import parse_duration as _parse_duration
from ..errors import InvalidInput
from .store import ACTIVE, Store, manifest_paths, map_manifest


def parse_duration(text: str) -> float:
    """``"90m"``, ``"12h"``, ``"30d"``, ``"2w"`` → seconds (:class:`InvalidInput` otherwise)."""
    seconds = _parse_duration(text)
    if seconds is None:
        raise InvalidInput(
            f"--older-than {text!r}: give a number and a unit, e.g. 45s, 90m, 12h, 30d or 2w"
        )
    return seconds


def _age_s(created_at: str, now: datetime) -> float:
    created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    return (now - created).total_seconds()


def collect_garbage(
    store: Store,
    keep: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
    protected: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Delete what no kept run, cache entry or published run needs (nothing with
    ``dry_run``); returns ``{"runs", "artifacts", "bytes", "kept", "dry_run"}``."""
    if keep is not None and keep < 0:
        raise InvalidInput(f"--keep must be 0 or more, got {keep}")
    runs = store._query("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC")
    dead = set(store.dead_runs())
    running = [r["id"] for r in runs if r["status"] in ACTIVE and r["id"] not in dead]
    if running:
        raise InvalidInput(
            f"run {running[0]} is in progress in {store.root}; run gc once it has finished"
        )
    now = datetime.now(timezone.utc)
    kept: set[str] = set(protected) & {r["id"] for r in runs}
    for position, row in enumerate(runs):
        wanted = [
            keep is None and older_than is None,
            keep is not None and position < keep,
            older_than is not None and _age_s(row["created_at"], now) < older_than,
        ]
        if any(wanted):
            kept.add(row["id"])
    steps = store._query("SELECT run_id, status, cache_key, cached_from, manifest FROM steps")
    entries = store._query("SELECT key, run_id, manifest FROM cache")
    kept_entries: dict[str, Any] = {}
    while True:  # close over the runs and cache entries that kept runs use
        before = len(kept)
        keys = {s["cache_key"] for s in steps if s["run_id"] in kept and s["cache_key"]}
        kept |= {s["cached_from"] for s in steps if s["run_id"] in kept and s["cached_from"]}
        kept_entries = {e["key"]: e for e in entries if e["run_id"] in kept or e["key"] in keys}
        kept |= {e["run_id"] for e in kept_entries.values()}
        if len(kept) == before:
            break
    kept &= {r["id"] for r in runs}
    dropped = [r["id"] for r in runs if r["id"] not in kept]

    needed: set[str] = set()
    manifests = [s["manifest"] for s in steps if s["run_id"] in kept and s["manifest"]]
    manifests += [e["manifest"] for e in kept_entries.values()]
    for text in manifests:
        needed.update(manifest_paths(map_manifest(json.loads(text), store.absolute)))
    for row in runs:
        if row["id"] in kept:
            for column in ("model", "example"):
                ref = json.loads(row[column]) if row[column] else None
                if ref and ref.get("artifact"):
                    needed.add(store.absolute(ref["artifact"]))
    needed = {os.path.normpath(p) for p in needed}

    garbage: list[Path] = []
    freed = 0
    if store.artifacts.is_dir():
        for folder, _dirs, files in os.walk(store.artifacts):
            for name in files:
                path = Path(folder) / name
                if name.startswith(".tmp-") or os.path.normpath(str(path)) in needed:
                    continue  # temporary files are a writer's (or the next writer's) business
                garbage.append(path)
                freed += path.lstat().st_size
    run_dirs = [store.run_dir(run_id) for run_id in dropped]
    for run_dir in run_dirs:
        for folder, _dirs, files in os.walk(run_dir):
            freed += sum((Path(folder) / f).lstat().st_size for f in files)
    result = {
        "runs": dropped,
        "artifacts": len(garbage),
        "bytes": freed,
        "kept": len(kept),
        "dry_run": dry_run,
    }
    if dry_run:
        return result
    with store.transaction() as db:
        for i in range(0, len(dropped), 500):
            batch = dropped[i : i + 500]
            marks = ", ".join("?" * len(batch))
            tables = (
                ("steps", "run_id"),
                ("kernels", "run_id"),
                ("events", "run_id"),
                ("runs", "id"),
            )
            for table, column in tables:
                db.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", batch)  # noqa: S608
        stale = [e["key"] for e in entries if e["key"] not in kept_entries]
        db.executemany("DELETE FROM cache WHERE key = ?", [(k,) for k in stale])
    for path in garbage:
        path.unlink(missing_ok=True)
    for run_dir in run_dirs:
        shutil.rmtree(run_dir, ignore_errors=True)
    return result
