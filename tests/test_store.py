"""The run store: schema migrations, read-only reads without side effects, liveness from the
run's lock, dead-run reaping, listing in one query with paging, store-relative paths."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_fixtures import code, mlops, write_notebook

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.runner.store import SCHEMA_VERSION, Store

FIXTURE = Path(__file__).parent / "fixtures" / "store_v0.sql"
OLD_RUN = "20261127-105904-e22e0c"
OLD_DIGEST = "aa" + "0" * 62


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and folder under ``folder``: (mode, size, mtime) - what "unchanged" means."""
    out = {}
    for path in [folder, *folder.rglob("*")]:
        st = path.lstat()
        out[str(path.relative_to(folder))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def old_store(root: Path) -> Path:
    """A store written by the schema before migrations (user_version 0), moved since."""
    root.mkdir(parents=True)
    db = sqlite3.connect(root / "runs.db")
    db.executescript(FIXTURE.read_text())
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    artifact = root / "artifacts" / OLD_DIGEST[:2] / OLD_DIGEST
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"0123456789")
    (root / "runs" / OLD_RUN).mkdir(parents=True)
    (root / "runs" / OLD_RUN / "load.ipynb").write_text("{}")
    return root


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def schema(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        db.close()


def test_previous_schema_migrates_once(tmp_path: Path) -> None:
    root = old_store(tmp_path / "store")
    assert user_version(root / "runs.db") == 0
    # reading an old store works and changes nothing (no migration on a read)
    before = snapshot(root)
    with Store.open_existing(root) as db:
        assert db.get_run(OLD_RUN)["status"] == "failed"
    assert snapshot(root) == before

    with Store.open(root) as db:
        assert db.migrated == list(range(1, SCHEMA_VERSION + 1))
        record = db.get_run(OLD_RUN)
        hit = db.cache_lookup("k1")
    assert user_version(root / "runs.db") == SCHEMA_VERSION
    # absolute paths of the store's old location now point into its new one
    assert record["steps"]["load"]["notebook"] == str(root / "runs" / OLD_RUN / "load.ipynb")
    assert record["steps"]["load"]["outputs"] == {"x": OLD_DIGEST}
    assert record["steps"]["train"]["error"]["ename"] == "ValueError"
    assert record["git"] == {"commit": "c0ffee", "dirty": False}
    assert hit is not None
    assert hit["manifest"]["outputs"]["x"]["path"] == str(
        root / "artifacts" / OLD_DIGEST[:2] / OLD_DIGEST
    )
    migrated = schema(root / "runs.db")
    with Store.open(root) as db:
        assert db.migrated == []
    assert schema(root / "runs.db") == migrated


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    root = old_store(tmp_path / "store")
    db = sqlite3.connect(root / "runs.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    for opener in (Store.open, Store.open_existing):
        with pytest.raises(InvalidInput, match="written by a newer jupyter-mlops"):
            opener(root)


def finished_run(db: Store, notebook: str = "/nb.ipynb") -> str:
    run_id = db.create_run(notebook, "0" * 64, {}, ["a", "b"], {})
    db.update_step(run_id, "a", status="succeeded", duration_s=0.1)
    db.update_step(run_id, "b", status="succeeded", duration_s=0.1)
    db.update_run(run_id, status="succeeded", finished_at="2026-01-01T00:00:00Z")
    db.release_run(run_id)
    return run_id


def test_reads_are_read_only_and_change_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root) as db:
        run_id = finished_run(db)
        running = db.create_run("/nb.ipynb", "0" * 64, {}, ["a"], {})  # this process: alive
        db.update_run(running, status="running")
        with Store.open_existing(root) as reader:
            assert reader.readonly
            assert [r["id"] for r in reader.list_runs()] == [running, run_id]
            assert reader.get_run(running)["status"] == "running"
            with pytest.raises(InvalidInput, match="opened for reading only"):
                reader.update_run(run_id, status="failed")
        db.release_run(running)
    before = snapshot(root)
    for args in (("runs", "--json"), ("show", run_id, "--json"), ("runs",)):
        proc = mlops(*args, "--store", str(root))
        assert proc.returncode == 0, proc.stderr
    assert snapshot(root) == before  # no -wal/-shm created, no status written


def test_dead_run_is_reported_dead_and_reaped_at_the_next_start(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root) as db:
        run_id = db.create_run("/nb.ipynb", "0" * 64, {}, ["a", "b"], {})
        db.update_run(run_id, status="running")
        db.update_step(run_id, "a", status="running")
        # a "kernel" of that run, in a session of its own (as jupyter_client starts them)
        kernel = subprocess.Popen(["sleep", "60"], start_new_session=True)
        db.add_kernel(run_id, kernel.pid)
        assert db.get_run(run_id)["status"] == "running"
        db.release_run(run_id)  # what the death of the run's process does to its lock
        with Store.open_existing(root) as reader:
            record = reader.get_run(run_id)
            assert reader.list_runs()[0]["status"] == "interrupted"
        assert record["status"] == "interrupted"
        assert record["steps"]["a"]["status"] == "failed"
        assert record["steps"]["a"]["error"]["ename"] == "Interrupted"
        assert record["steps"]["b"]["status"] == "skipped"
        assert kernel.poll() is None  # reading stops nothing
        assert db.reap_dead() == [run_id]
        assert kernel.wait(timeout=10) == -signal.SIGKILL
        assert db.reap_dead() == []
    raw = sqlite3.connect(root / "runs.db")
    assert raw.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    assert raw.execute("SELECT COUNT(*) FROM kernels").fetchone() == (0,)
    raw.close()


def test_runs_are_listed_in_one_query_with_paging(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as db:
        ids = [finished_run(db, f"/nb{i % 2}.ipynb") for i in range(7)]
        statements: list[str] = []
        db._db.set_trace_callback(statements.append)
        page = db.list_runs(limit=3)
        db._db.set_trace_callback(None)
        assert [r["id"] for r in page] == ids[::-1][:3]
        assert all(set(r["steps"]) == {"a", "b"} for r in page)
        assert len(statements) == 2  # the runs, then all their steps
        assert [r["id"] for r in db.list_runs(limit=3, offset=3)] == ids[::-1][3:6]
        assert [r["id"] for r in db.list_runs(limit=10, before=ids[2])] == ids[1::-1]
        assert [r["id"] for r in db.list_runs("/nb1.ipynb", limit=2)] == [ids[5], ids[3]]


def test_a_batch_is_one_commit_that_keeps_each_finished_write(tmp_path: Path) -> None:
    """The scheduler records a pass (steps finished, cached, started) in one batch: the
    writes inside join one transaction (one commit, not one per step and event). An
    exception from elsewhere keeps the writes made before it (a step that finished stays
    recorded); one from a write itself rolls the batch back (nothing half-written)."""
    with Store.open(tmp_path / "store") as db:
        run_id = db.create_run("/nb.ipynb", "0" * 64, {}, ["a", "b", "c"], {})
        statements: list[str] = []
        db._db.set_trace_callback(statements.append)
        with db.batch():
            for name in ("a", "b", "c"):
                db.update_step(run_id, name, status="cached")
                db.add_event(run_id, "step", {"step": name, "status": "cached"})
        db._db.set_trace_callback(None)
        assert statements.count("COMMIT") == 1 and statements.count("BEGIN IMMEDIATE") == 1
        assert {s["status"] for s in db.get_run(run_id)["steps"].values()} == {"cached"}
        seen = len(db.events(run_id))
        with pytest.raises(RuntimeError), db.batch():  # e.g. a listener that broke
            db.update_step(run_id, "a", status="succeeded")
            raise RuntimeError("stop")
        assert db.get_run(run_id)["steps"]["a"]["status"] == "succeeded"
        with pytest.raises(RuntimeError), db.batch():
            db.update_step(run_id, "b", status="succeeded")
            with db.transaction() as raw:  # half of a two-statement write, then a failure
                raw.execute("UPDATE steps SET status = 'failed' WHERE name = 'c'")
                raise RuntimeError("stop")
        steps = db.get_run(run_id)["steps"]
        assert (steps["b"]["status"], steps["c"]["status"]) == ("cached", "cached")
        assert len(db.events(run_id)) == seen
        assert not db._db.in_transaction
        db.release_run(run_id)


def test_a_run_id_drawn_twice_in_one_second_draws_again(tmp_path: Path, monkeypatch) -> None:
    """Run ids are the second plus 24 random bits: two runs of one second may draw the same
    id. The second must get another id, not fail with "cannot record a run"."""
    from jupyter_mlops.runner import store as store_module

    with Store.open(tmp_path / "store") as db:
        first = db.create_run("/nb.ipynb", "0" * 64, {}, ["a"], {})
        drawn = iter([first, first, "20261127-000000-abcdef"])
        monkeypatch.setattr(store_module, "new_run_id", lambda: next(drawn))
        second = db.create_run("/nb.ipynb", "0" * 64, {}, ["a"], {})
        assert second == "20261127-000000-abcdef"
        assert {r["id"] for r in db.list_runs()} == {first, second}
        db.release_run(first)
        db.release_run(second)


def test_paths_are_stored_relative_so_a_store_can_move(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root) as db:
        run_id = db.create_run("/nb.ipynb", "0" * 64, {}, ["a"], {})
        artifact = db.artifacts / "ab" / ("ab" * 32)
        artifact.parent.mkdir(parents=True)
        artifact.write_bytes(b"x")
        entry = {"format": "pickle", "digest": "ab" * 32, "size": 1, "type": "int",
                 "path": str(artifact)}  # fmt: skip
        manifest = {"outputs": {"x": entry}, "metrics": {}, "example": None}
        notebook = str(db.run_dir(run_id) / "a.ipynb")
        db.update_step(run_id, "a", status="succeeded", notebook=notebook, manifest=manifest)
        db.cache_store("key", run_id, "a", notebook, manifest)
        db.update_run(run_id, status="succeeded", model={"step": "a", "variable": "x",
                      "artifact": str(artifact)})  # fmt: skip
        db.release_run(run_id)
    raw = sqlite3.connect(root / "runs.db")
    stored = " ".join(str(v) for row in raw.execute("SELECT * FROM steps") for v in row)
    stored += " ".join(str(v) for row in raw.execute("SELECT * FROM cache") for v in row)
    raw.close()
    assert str(root) not in stored and "artifacts/ab/" in stored
    moved = tmp_path / "elsewhere" / "store"
    moved.parent.mkdir()
    shutil.move(root, moved)
    with Store.open_existing(moved) as db:
        record = db.get_run(run_id)
        hit = db.cache_lookup("key")
    assert record["model"]["artifact"] == str(moved / "artifacts" / "ab" / ("ab" * 32))
    assert record["steps"]["a"]["notebook"] == str(moved / "runs" / run_id / "a.ipynb")
    assert hit is not None and hit["notebook"] == record["steps"]["a"]["notebook"]


def test_a_run_that_cannot_get_its_folder_is_not_recorded(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root) as db:
        shutil.rmtree(db.runs_dir)
        db.runs_dir.write_text("not a folder")  # any failure to make the run's folder
        with pytest.raises(InvalidInput, match=f"cannot record a run in {db.runs_dir}"):
            db.create_run("/nb.ipynb", "0" * 64, {}, ["a"], {})
        assert db.list_runs() == []


# -- B7: read-only stores, as a user without root's override of permission bits --------------
def unprivileged(*args: str) -> subprocess.CompletedProcess:
    """``jupyter mlops ARGS`` with permission bits enforced (root without CAP_DAC_OVERRIDE)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        # util-linux's setpriv is on every Debian system; without it this test must not pass
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to test as non-root"
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run(
        [*prefix, sys.executable, "-m", "jupyter_mlops.cli.app", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.fixture
def read_only_store(tmp_path: Path):
    root = tmp_path / "store"
    with Store.open(root) as db:
        run_id = finished_run(db)
    probe = unprivileged("runs", "--store", str(root))
    assert probe.returncode == 0, probe.stderr
    subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    try:
        yield root, run_id
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)


def test_read_only_store_reads_work_and_runs_are_refused_clearly(read_only_store, tmp_path):
    root, run_id = read_only_store
    nb = write_notebook(tmp_path / "nb.ipynb", [code("x = 1", "step:one")])
    before = snapshot(root)
    listed = unprivileged("runs", "--store", str(root))
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout
    shown = unprivileged("show", run_id, "--json", "--store", str(root))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "succeeded"
    ran = unprivileged("run", str(nb), "--store", str(root))
    assert ran.returncode == 2
    assert ran.stderr.strip() == (
        f"error: the store {root} is read-only ({root} is not writable): reading commands "
        "(runs, show) work, but no run can be recorded there; choose another --store "
        "(or JUPYTER_MLOPS_STORE)"
    )
    assert "move that file away" not in ran.stderr
    assert snapshot(root) == before


def test_runs_folder_not_writable_is_a_clear_error_and_no_phantom_run(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root) as db:
        finished_run(db)
    nb = write_notebook(tmp_path / "nb.ipynb", [code("x = 1", "step:one")])
    os.chmod(root / "runs", 0o555)
    try:
        ran = unprivileged("run", str(nb), "--store", str(root))
    finally:
        os.chmod(root / "runs", 0o755)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.startswith(f"error: the store {root} is read-only ({root / 'runs'} is not")
    assert "Traceback" not in ran.stderr
    with Store.open_existing(root) as db:
        assert len(db.list_runs()) == 1  # no phantom run


def test_kill_9_zombie_run_reads_as_dead_at_once(tmp_path: Path) -> None:
    """A run process killed with -9 and not yet reaped (a zombie keeps its /proc entry)."""
    root = tmp_path / "store"
    script = (
        "import sys, time\n"
        "from jupyter_mlops.runner.store import Store\n"
        "db = Store.open(sys.argv[1])\n"
        "run_id = db.create_run('/nb.ipynb', '0' * 64, {}, ['a'], {})\n"
        "db.update_run(run_id, status='running')\n"
        "print(run_id, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    try:
        run_id = proc.stdout.readline().strip()
        with Store.open_existing(root) as db:
            assert db.get_run(run_id)["status"] == "running"
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
            time.sleep(0.02)
        assert state == "Z"  # still there, with its pid and start time
        with Store.open_existing(root) as db:
            assert db.get_run(run_id)["status"] == "interrupted"
    finally:
        proc.kill()
        proc.wait()
