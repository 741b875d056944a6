"""Schedules in the store: cron + time zones, exactly-once slots between racing schedulers,
catch-up after downtime (coalesce | skip), pause/resume, the preview agreeing with firing.

The clock is injected (``now=``): no test here waits for wall-clock time or starts a kernel.
"""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from croniter import croniter

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.runner.store import Store
from jupyter_mlops.schedules import table
from jupyter_mlops.schedules.cron import parse_cron, slot_text

T0 = datetime(2026, 11, 27, 12, 0, 0, 500000, tzinfo=timezone.utc)  # half a second past :00
EVERY_2S = "* * * * * */2"  # croniter: a 6th field is seconds


def _add(store: Store, cron: str = EVERY_2S, catchup: str = "coalesce", tz: str = "UTC") -> dict:
    return table.add(store, "/nb.ipynb", parse_cron(cron, tz), {}, None, catchup, T0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_cron_and_timezone_are_checked_with_one_line_errors() -> None:
    for bad, why in [("61 * * * *", "not a valid cron"), ("", "required"),
                     ("* * *", "not a valid cron")]:  # fmt: skip
        with pytest.raises(InvalidInput, match=why):
            parse_cron(bad)
    with pytest.raises(InvalidInput, match="unknown time zone"):
        parse_cron("0 3 * * *", "Mars/Olympus")
    assert parse_cron("0  3 * * 1", "Europe/Paris").expr == "0 3 * * 1"


def test_next_firings_follow_the_time_zone_and_dst() -> None:
    cron = parse_cron("30 2 * * *", "Europe/Paris")  # 02:30 does not exist on 29 March 2026
    firings = cron.firings(datetime(2026, 3, 28, 12, tzinfo=timezone.utc), 3)
    expected = croniter("30 2 * * *", datetime(2026, 3, 28, 13, tzinfo=cron_zone()))
    assert firings == [expected.get_next(datetime) for _ in range(3)]
    assert [f.utcoffset() for f in firings] == [timedelta(hours=2)] * 3  # summer time


def cron_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Paris")


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "store") as db:
        yield db


def test_each_slot_fires_once_and_on_time(store: Store) -> None:
    schedule = _add(store)
    assert schedule["next_at"] == "2026-11-27T12:00:02Z"
    assert table.claim_due(store, at(1), "a", grace=1) == []
    fired = table.claim_due(store, at(1.7), "a", grace=1)  # 12:00:02.2
    assert [(f.slot, f.kind, f.missed) for f in fired] == [("2026-11-27T12:00:02Z", "cron", 0)]
    assert table.claim_due(store, at(1.8), "b", grace=1) == []  # the same slot, another asker
    assert table.get(store, schedule["id"])["next_at"] == "2026-11-27T12:00:04Z"


@pytest.mark.parametrize(("catchup", "runs"), [("coalesce", 1), ("skip", 0)])
def test_missed_slots_coalesce_into_one_run_or_are_skipped(
    store: Store, catchup: str, runs: int
) -> None:
    schedule = _add(store, catchup=catchup)
    table.claim_due(store, at(1.7), "a", grace=1)  # fired :02, then the scheduler stops
    fired = table.claim_due(store, at(6.8), "a", grace=1)  # 12:00:07.3: :04, :06 missed
    assert len(fired) == runs
    history = table.firings(store, schedule["id"])
    assert history[0]["slot"] == "2026-11-27T12:00:06Z" and history[0]["missed"] == 2
    if catchup == "coalesce":
        assert fired[0].kind == "catch-up" and fired[0].missed == 2
        assert history[0]["state"] == "claimed"
    else:
        assert history[0]["state"] == "skipped"
        assert history[0]["outcome"]["result"] == "skipped"
    assert len(history) == 2  # one record for the two missed slots
    assert table.get(store, schedule["id"])["next_at"] == "2026-11-27T12:00:08Z"


def test_pause_stops_firing_and_resume_starts_after_now(store: Store) -> None:
    schedule = _add(store)
    table.set_paused(store, schedule["id"], True, at(1))
    assert table.claim_due(store, at(9.7), "a", grace=1) == []
    table.set_paused(store, schedule["id"], False, at(9.7))  # nothing of the pause fires
    assert table.get(store, schedule["id"])["next_at"] == "2026-11-27T12:00:12Z"
    assert [f.slot for f in table.claim_due(store, at(11.6), "a", grace=1)] == [
        "2026-11-27T12:00:12Z"
    ]
    table.remove(store, schedule["id"])
    assert table.claim_due(store, at(20), "a", grace=1) == []
    assert table.list_all(store) == []


def test_a_claim_whose_scheduler_died_is_taken_over_after_its_lease(store: Store) -> None:
    _add(store)
    first = table.claim_due(store, at(1.7), "dead", grace=1)
    assert len(first) == 1  # claimed, never queued: its scheduler died
    later = at(1.7) + table.LEASE + timedelta(seconds=1)
    retaken = [
        f for f in table.claim_due(store, later, "alive", grace=1) if f.slot == first[0].slot
    ]
    assert len(retaken) == 1
    assert table.firings(store, first[0].schedule["id"], 100)[-1]["fired_by"] == "alive"


def _race(root: str, name: str, barrier, out) -> None:
    with Store.open(root) as db:
        for step in range(40):  # 20 virtual seconds in half-second ticks, in lock step
            barrier.wait()
            for firing in table.claim_due(db, at(0.25 + step * 0.5), name, grace=1):
                out.put((firing.slot, name))
        out.put(None)


def test_two_schedulers_racing_on_one_store_fire_each_slot_once(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root) as db:
        _add(db)
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(root), n, barrier, out)) for n in "ab"]
    for p in procs:
        p.start()
    got, ended = [], 0
    while ended < 2:
        item = out.get(timeout=60)
        if item is None:
            ended += 1
        else:
            got.append(item)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    slots = [slot for slot, _ in got]
    expected = [
        slot_text(T0.replace(microsecond=0) + timedelta(seconds=s)) for s in range(2, 21, 2)
    ]
    assert sorted(slots) == expected  # every slot, each once, whoever fired it
    with Store.open(root) as db:
        recorded = db.query("SELECT slot FROM schedule_firings ORDER BY slot")
    assert [r[0] for r in recorded] == expected


def test_a_store_of_the_previous_schema_gains_the_schedule_tables(tmp_path: Path) -> None:
    import sqlite3

    from jupyter_mlops.runner.store import MIGRATIONS

    root = tmp_path / "old"
    root.mkdir(mode=0o700)
    db = sqlite3.connect(root / "runs.db")
    for migrate in MIGRATIONS[:3]:
        migrate(db)
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    with Store.open_existing(root) as old:  # reading an old store: no schedules, no error
        assert table.list_all(old) == []
    with Store.open(root) as new:
        assert 4 in new.migrated
        assert _add(new)["cron"] == EVERY_2S


@pytest.mark.parametrize("catchup", ["coalesce", "skip"])
def test_missed_slots_then_an_on_time_one(store: Store, catchup: str) -> None:
    schedule = _add(store, catchup=catchup)
    table.claim_due(store, at(1.7), "a", grace=1)
    fired = table.claim_due(store, at(7.6), "a", grace=1)  # 12:00:08.1: :04, :06 missed
    assert [(f.slot, f.kind, f.missed) for f in fired] == [
        ("2026-11-27T12:00:08Z", "catch-up" if catchup == "coalesce" else "cron",
         2 if catchup == "coalesce" else 0)
    ]  # fmt: skip
    states = [
        (f["slot"][-3:], f["state"], f["missed"]) for f in table.firings(store, schedule["id"])
    ]
    if catchup == "skip":
        assert ("06Z", "skipped", 2) in states
    else:
        assert [s for s in states if s[1] == "skipped"] == []


def test_a_slot_while_the_previous_run_goes_on_is_skipped(store: Store) -> None:
    schedule = _add(store)
    first = table.claim_due(store, at(1.7), "a", grace=1)[0]
    run_id = store.queue_run("/nb.ipynb", "0" * 64, {}, ["one"], {"origin": "schedule"})
    table.started(store, schedule["id"], first.slot, run_id)
    assert table.claim_due(store, at(3.7), "a", grace=1) == []  # :04 while the run is queued
    busy = table.firings(store, schedule["id"])[0]
    assert busy["slot"].endswith(":04Z") and busy["state"] == "skipped"
    assert busy["outcome"]["busy"] and run_id in busy["outcome"]["reason"]
    store.settle_run(run_id, "failed", "done")
    assert [f.slot[-3:] for f in table.claim_due(store, at(5.7), "a", grace=1)] == ["06Z"]
