"""The store's append-only event log (schema 3), queued runs without an owner, claim and
settle: what run processes and the server's run manager rely on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jupyter_mlops.runner.gc import collect_garbage
from jupyter_mlops.runner.store import MIGRATIONS, SCHEMA_VERSION, Store


def v2_store(root: Path) -> Path:
    """A store as schema 2 wrote it, with one finished run."""
    root.mkdir(mode=0o700)
    db = sqlite3.connect(root / "runs.db")
    for migrate in MIGRATIONS[:2]:
        migrate(db)
    db.execute(
        "INSERT INTO runs (id, notebook, status, created_at) VALUES ('r1', '/nb.ipynb',"
        " 'succeeded', '2026-01-01T00:00:00Z')"
    )
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    return root


def test_schema_2_store_migrates_to_the_event_log(tmp_path: Path) -> None:
    root = v2_store(tmp_path / "store")
    with Store.open_existing(root) as db:  # an old store reads fine, without events
        assert db.get_run("r1")["status"] == "succeeded"
        assert db.events("r1") == [] and db.last_event_id() == 0
    with Store.open(root) as db:
        assert db.migrated == list(range(3, SCHEMA_VERSION + 1))
        assert db.get_run("r1")["error"] is None
        assert [db.add_event("r1", "output", {"step": "a", "text": t}) for t in "xy"] == [1, 2]
        assert [(e["seq"], e["text"]) for e in db.events("r1")] == [(1, "x"), (2, "y")]
        assert [e["seq"] for e in db.events("r1", after=1)] == [2]
    with Store.open(root) as db:
        assert db.migrated == []


def test_queued_claimed_settled(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as db:
        run_id = db.queue_run("/nb.ipynb", "0" * 64, {}, ["a", "b"], {"origin": "server"},
                              request={"parameters": {"x": 1}})  # fmt: skip
        first = db.last_event_id()
        assert db.get_run(run_id)["status"] == "queued"
        assert db.active_runs()[0]["dead"] is False  # nobody owns it yet: waiting, not dead
        assert (db.run_dir(run_id) / "request.json").stat().st_mode & 0o077 == 0
        with Store.open(db.root) as other:  # another process takes it first
            assert other.claim_run(run_id)
            assert not db.claim_run(run_id)
            assert other.take_request(run_id) == {"parameters": {"x": 1}}
            assert not (db.run_dir(run_id) / "request.json").exists()
            db.update_step(run_id, "a", status="running")
            assert db.settle_run(run_id, "cancelled", "cancelled by the user")
            assert not db.settle_run(run_id, "interrupted")  # already ended
        record = db.get_run(run_id)
        assert record["status"] == "cancelled" and record["error"] == "cancelled by the user"
        assert {n: s["status"] for n, s in record["steps"].items()} == {
            "a": "failed",
            "b": "skipped",
        }
        events = db.events_after_id(first)
        assert [(e["kind"], e.get("step"), e["status"]) for e in events] == [
            ("step", "a", "failed"),
            ("step", "b", "skipped"),
            ("run", None, "cancelled"),
        ]
        assert [e["seq"] for e in db.events(run_id)] == [1, 2, 3, 4]  # queued first
        # gc drops a run's events with it
        collect_garbage(db, 0, None, False, set())
        assert db.events(run_id) == []
