"""Schedules and their firings in the run store (tables ``schedules``, ``schedule_firings``).

A schedule's ``next_at`` is the first slot not yet handled. :func:`claim_due` handles every
slot up to now in one write transaction, so of several schedulers sharing a store (the
Jupyter server and ``jupyter mlops scheduler``) exactly one fires each slot: the firing's
primary key is ``(schedule_id, slot)``, and the row is a lease (``lease_until``) until the
run is queued, so a scheduler that dies in between leaves the slot to another one.

Missed slots (the scheduler was down) coalesce into one firing, or are recorded as one
``skipped`` firing (``catchup`` = ``coalesce`` | ``skip``); ``missed`` counts them. A slot
that comes while the schedule's previous run is still queued or running is recorded as
``skipped`` (``busy``): a schedule never has two runs at once.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..errors import NotFound
from ..runner.store import Store, utcnow
from .cron import Cron, parse_time, slot_text

LEASE = timedelta(seconds=60)  # a claimed slot's run must be queued within this
FIRING_STATES = ("claimed", "queued", "done", "skipped")


@dataclass
class Firing:
    """A slot this process must fire now (queue the run, then :func:`started`)."""

    schedule: dict[str, Any]
    slot: str
    kind: str  # cron | catch-up | manual
    missed: int


def new_schedule_id() -> str:
    return "s-" + secrets.token_hex(4)


def _schedule(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "notebook": row["notebook"],
        "cron": row["cron"],
        "timezone": row["timezone"],
        "parameters": json.loads(row["parameters"] or "{}"),
        "publish": json.loads(row["publish"]) if row["publish"] else None,
        "catchup": row["catchup"],
        "paused": bool(row["paused"]),
        "next_at": row["next_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _firing(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "schedule_id": row["schedule_id"],
        "slot": row["slot"],
        "kind": row["kind"],
        "fired_at": row["fired_at"],
        "fired_by": row["fired_by"],
        "missed": row["missed"],
        "run_id": row["run_id"],
        "state": row["state"],
        "outcome": json.loads(row["outcome"]) if row["outcome"] else None,
    }


def _rows(store: Store, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    try:
        return store.query(sql, args)
    except sqlite3.OperationalError as exc:  # a read-only store of an older schema
        if "no such table" in str(exc):
            return []
        raise


def add(
    store: Store,
    notebook: str,
    cron: Cron,
    parameters: dict[str, Any],
    publish: dict[str, Any] | None,
    catchup: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a new schedule; its first slot is the first firing after ``now``."""
    schedule_id = new_schedule_id()
    stamp = utcnow()
    with store.transaction() as db:
        db.execute(
            "INSERT INTO schedules (id, notebook, cron, timezone, parameters, publish, catchup,"
            " paused, next_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (schedule_id, notebook, cron.expr, cron.timezone, json.dumps(parameters),
             json.dumps(publish) if publish is not None else None, catchup,
             slot_text(cron.next_after(now)), stamp, stamp),
        )  # fmt: skip
    return get(store, schedule_id)


def get(store: Store, schedule_id: str) -> dict[str, Any]:
    rows = _rows(store, "SELECT * FROM schedules WHERE id = ?", (schedule_id,))
    if not rows:
        raise NotFound(f"no schedule {schedule_id!r} in store {store.root}")
    return _schedule(rows[0])


def list_all(store: Store) -> list[dict[str, Any]]:
    return [_schedule(r) for r in _rows(store, "SELECT * FROM schedules ORDER BY created_at")]


def set_paused(store: Store, schedule_id: str, paused: bool, now: datetime) -> dict[str, Any]:
    """Pause, or resume from the first slot after ``now`` (slots of the pause never fire)."""
    current = get(store, schedule_id)
    cron = Cron(current["cron"], current["timezone"])
    with store.transaction() as db:
        db.execute(
            "UPDATE schedules SET paused = ?, next_at = ?, updated_at = ? WHERE id = ?",
            (int(paused), current["next_at"] if paused else slot_text(cron.next_after(now)),
             utcnow(), schedule_id),
        )  # fmt: skip
    return get(store, schedule_id)


def remove(store: Store, schedule_id: str) -> dict[str, Any]:
    """Delete a schedule and its firings (its runs stay in the store)."""
    current = get(store, schedule_id)
    with store.transaction() as db:
        db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))
        db.execute("DELETE FROM schedule_firings WHERE schedule_id = ?", (schedule_id,))
    return current


def firings(store: Store, schedule_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The schedule's firings, newest first."""
    rows = _rows(
        store,
        "SELECT * FROM schedule_firings WHERE schedule_id = ? ORDER BY fired_at DESC, slot DESC"
        " LIMIT ?",
        (schedule_id, limit),
    )
    return [_firing(r) for r in rows]


def due(store: Store, now: datetime) -> bool:
    """Whether any active schedule has a slot due, or a claim's lease ran out (cheap read)."""
    stamp = slot_text(now)
    rows = _rows(
        store,
        "SELECT 1 FROM schedules WHERE paused = 0 AND next_at <= ? UNION ALL SELECT 1 FROM"
        " schedule_firings WHERE state = 'claimed' AND lease_until < ? LIMIT 1",
        (stamp, stamp),
    )
    return bool(rows)


def claim_due(store: Store, now: datetime, who: str, grace: float) -> list[Firing]:
    """Every slot due by ``now``, handled once (see module doc); the firings this caller
    must start. A slot older than ``grace`` seconds was missed (downtime)."""
    stamp = slot_text(now)
    lease = slot_text(now + LEASE)
    out: list[Firing] = []
    with store.transaction() as db:
        rows = db.execute(
            "SELECT * FROM schedules WHERE paused = 0 AND next_at <= ?", (stamp,)
        ).fetchall()
        for row in rows:
            schedule = _schedule(row)
            cron = Cron(schedule["cron"], schedule["timezone"])
            slots, count = cron.slots(parse_time(schedule["next_at"]), now)
            db.execute(
                "UPDATE schedules SET next_at = ? WHERE id = ?",
                (slot_text(cron.next_after(now)), schedule["id"]),
            )
            if not count:
                continue
            last = slots[-1]
            on_time = (now - last).total_seconds() <= grace
            missed = count - 1 if on_time else count
            coalesce = schedule["catchup"] == "coalesce"
            if missed and not coalesce:  # skip: one record of the slots that did not run
                skipped = slots[-2] if on_time else last
                _insert(db, schedule["id"], slot_text(skipped), "catch-up", who, None, missed,
                        state="skipped", outcome={"result": "skipped", "reason":
                        f"{missed} slot(s) missed while no scheduler ran (catch-up: skip)"})  # fmt: skip
            if on_time or coalesce:
                kind = "catch-up" if missed and coalesce else "cron"
                late = missed if coalesce else 0
                going = _running(db, schedule["id"])
                if going is not None:  # never two runs of one schedule at once
                    _insert(db, schedule["id"], slot_text(last), kind, who, None, late,
                            state="skipped", outcome={"result": "skipped", "busy": True,
                            "reason": f"the previous run ({going}) was still going"})  # fmt: skip
                elif _insert(db, schedule["id"], slot_text(last), kind, who, lease, late):
                    out.append(Firing(schedule, slot_text(last), kind, late))
        for row in db.execute(  # claims whose scheduler died before queueing the run
            "SELECT f.*, s.id AS sid FROM schedule_firings f JOIN schedules s ON s.id ="
            " f.schedule_id WHERE f.state = 'claimed' AND f.lease_until < ?",
            (stamp,),
        ).fetchall():
            taken = db.execute(
                "UPDATE schedule_firings SET fired_by = ?, lease_until = ? WHERE schedule_id = ?"
                " AND slot = ? AND state = 'claimed' AND lease_until < ?",
                (who, lease, row["schedule_id"], row["slot"], stamp),
            ).rowcount
            if taken:
                schedule = _schedule(
                    db.execute("SELECT * FROM schedules WHERE id = ?", (row["sid"],)).fetchone()
                )
                out.append(Firing(schedule, row["slot"], row["kind"], row["missed"]))
    return out


def _running(db: sqlite3.Connection, schedule_id: str) -> str | None:
    """The schedule's run still queued or running, if any."""
    row = db.execute(
        "SELECT r.id FROM schedule_firings f JOIN runs r ON r.id = f.run_id WHERE"
        " f.schedule_id = ? AND r.status IN ('queued', 'running') LIMIT 1",
        (schedule_id,),
    ).fetchone()
    return row[0] if row else None


def claim_manual(store: Store, schedule_id: str, now: datetime, who: str) -> Firing:
    """``run-now``: a firing outside the cron slots."""
    schedule = get(store, schedule_id)
    slot = "now-" + slot_text(now) + "-" + secrets.token_hex(2)
    with store.transaction() as db:
        _insert(db, schedule_id, slot, "manual", who, slot_text(now + LEASE), 0)
    return Firing(schedule, slot, "manual", 0)


def _insert(db: sqlite3.Connection, schedule_id: str, slot: str, kind: str, who: str,
            lease: str | None, missed: int, state: str = "claimed",
            outcome: dict[str, Any] | None = None) -> bool:  # fmt: skip
    return bool(
        db.execute(
            "INSERT OR IGNORE INTO schedule_firings (schedule_id, slot, kind, fired_at, fired_by,"
            " lease_until, missed, state, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                schedule_id,
                slot,
                kind,
                utcnow(),
                who,
                lease,
                missed,
                state,
                json.dumps(outcome) if outcome else None,
            ),
        ).rowcount  # fmt: skip
    )


def started(store: Store, schedule_id: str, slot: str, run_id: str) -> None:
    """The firing's run is queued: the lease ends."""
    with store.transaction() as db:
        db.execute(
            "UPDATE schedule_firings SET run_id = ?, state = 'queued', lease_until = NULL"
            " WHERE schedule_id = ? AND slot = ?",
            (run_id, schedule_id, slot),
        )


def finish(store: Store, schedule_id: str, slot: str, outcome: dict[str, Any]) -> None:
    """Record how a firing ended (see :func:`jupyter_mlops.schedules.outcome`)."""
    with store.transaction() as db:
        db.execute(
            "UPDATE schedule_firings SET state = 'done', lease_until = NULL, outcome = ?"
            " WHERE schedule_id = ? AND slot = ?",
            (json.dumps(outcome, default=str), schedule_id, slot),
        )
