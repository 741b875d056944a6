"""Integrity of passed values: digests checked on load, private folders, failed and
interrupted background writes (issue 9 "Integrity", issue 11 B1 and B4); real kernels."""

from __future__ import annotations

import json
import os
import pickle
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_fixtures import cli_env, code, run_json, statuses, write_notebook

from jupyter_mlops import serialization
from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.runner.store import Store


def _artifact(store: Path, digest: str) -> Path:
    return store / "artifacts" / digest[:2] / digest


def _temp_files(store: Path) -> list[Path]:
    stage = serialization.staging_dir(store / "artifacts")
    found = list((store / "artifacts").glob("*/.tmp-*"))
    return found + (list(stage.glob(".tmp-*")) if stage.is_dir() else [])


def _cached_keys(store: Path, step: str) -> int:
    with sqlite3.connect(store / "runs.db") as db:
        return db.execute("SELECT COUNT(*) FROM cache WHERE step = ?", (step,)).fetchone()[0]


@pytest.mark.parametrize(
    "make",
    [
        "arr = np.arange(n)",  # npy, memory-mapped on load
        "arr = {'values': list(range(n)), 'label': 'x' * 300}",  # a pickle
    ],
    ids=["npy", "pickle"],
)
def test_b1_corrupted_artifact_is_never_loaded_nor_cached(tmp_path: Path, make: str) -> None:
    nb = write_notebook(
        tmp_path / "b1.ipynb",
        [
            code("n = 1000\nk = 1", "parameters"),
            code("import numpy as np", "setup"),
            code(make, "step:a"),
            code(
                "values = arr['values'] if isinstance(arr, dict) else arr\n"
                "total = int(sum(values)) * k",
                "step:b",
            ),
            code("total", "metrics"),
        ],
    )
    store = tmp_path / "s"
    rc, first, err = run_json(str(nb), "--store", str(store))
    assert rc == 0, err
    assert first["metrics"]["total"] == sum(range(1000))
    artifact = _artifact(store, first["steps"]["a"]["outputs"]["arr"])
    original = artifact.read_bytes()
    with open(artifact, "r+b") as fh:  # overwrite 8 bytes at offset 200
        fh.seek(200)
        fh.write(b"\xff" * 8)

    rc, bad, err = run_json(str(nb), "--store", str(store), "-p", "k", "3")
    assert rc == 1
    assert statuses(bad) == {"a": "cached", "b": "failed"}
    error = bad["steps"]["b"]["error"]
    assert error["ename"] == "CorruptArtifact"
    assert "'arr'" in error["evalue"] and "does not match its digest" in error["evalue"]
    assert "total" not in bad["metrics"]
    assert _cached_keys(store, "b") == 1  # only the first run's entry (k=1)
    assert not artifact.exists() and Path(f"{artifact}.corrupt").exists()

    artifact.write_bytes(original)  # restored: the cached step is used again, correctly
    rc, good, err = run_json(str(nb), "--store", str(store), "-p", "k", "3")
    assert rc == 0, err
    assert statuses(good) == {"a": "cached", "b": "succeeded"}
    assert good["metrics"]["total"] == 3 * sum(range(1000))


def test_b1_a_run_after_corruption_recomputes_the_artifact(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "p.ipynb",
        [
            code("k = 1", "parameters"),
            code("data = {'xs': list(range(500))}", "step:a"),
            code("total = sum(data['xs']) * k", "step:b"),
            code("total", "metrics"),
        ],
    )
    store = tmp_path / "s"
    rc, first, err = run_json(str(nb), "--store", str(store))
    assert rc == 0, err
    artifact = _artifact(store, first["steps"]["a"]["outputs"]["data"])
    payload = bytearray(artifact.read_bytes())
    payload[-20:-12] = b"\x00" * 8  # an edited pickle
    artifact.write_bytes(bytes(payload))
    rc, bad, _ = run_json(str(nb), "--store", str(store), "-p", "k", "2")
    assert rc == 1 and bad["steps"]["b"]["error"]["ename"] == "CorruptArtifact"
    rc, again, err = run_json(str(nb), "--store", str(store), "-p", "k", "2")
    assert rc == 0, err
    assert statuses(again) == {"a": "succeeded", "b": "succeeded"}
    assert again["metrics"]["total"] == 2 * sum(range(500))
    assert artifact.read_bytes() != bytes(payload)


def test_a_cache_hit_needs_the_artifact_at_its_recorded_size(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "size.ipynb",
        [code("xs = list(range(100))", "step:a"), code("n = len(xs)", "step:b")],
    )
    store = tmp_path / "s"
    rc, first, err = run_json(str(nb), "--store", str(store))
    assert rc == 0, err
    artifact = _artifact(store, first["steps"]["a"]["outputs"]["xs"])
    artifact.write_bytes(artifact.read_bytes()[:-5])  # truncated
    rc, again, err = run_json(str(nb), "--store", str(store))
    assert rc == 0, err
    assert statuses(again) == {"a": "succeeded", "b": "cached"}


def test_load_checks_the_digest_in_process(tmp_path: Path) -> None:
    import numpy as np

    arts = tmp_path / "artifacts"
    for value in (np.arange(50_000.0), {"a": np.arange(10)}, list(range(100))):
        entry = serialization.dump(value, arts)
        assert serialization.file_digest(entry["path"]) == entry["digest"]
        loaded = serialization.load(entry["path"])
        assert pickle.dumps(np.asarray(loaded) if isinstance(value, np.ndarray) else loaded) == (
            pickle.dumps(value)
        )
        with open(entry["path"], "r+b") as fh:
            fh.seek(entry["size"] - 3)
            fh.write(b"\x01\x02\x03")
        with pytest.raises(serialization.CorruptArtifact, match="does not match its digest"):
            serialization.load(entry["path"])


def test_store_and_staging_folders_are_private(tmp_path: Path) -> None:
    store = tmp_path / "s"
    Store.open(store).close()
    for folder in (store, store / "artifacts", store / "runs"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    Store.open(loose).close()
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700  # an existing store of ours: tightened
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 12345, 12345)  # the tests run as root: another user's folder
    with pytest.raises(InvalidInput, match="belongs to another user"):
        Store.open(theirs)
    assert serialization.STAGING_ROOT.name == f"jupyter-mlops-{os.getuid()}"
    assert str(os.getuid()) in str(serialization.staging_dir(store / "artifacts"))


@pytest.mark.parametrize("size", [10_000, 100_000])  # one chunk; many chunks
def test_staged_write_hashes_exactly_the_bytes_it_writes(tmp_path: Path, monkeypatch, size) -> None:
    """Large values are copied to the in-memory staging folder while their digest is
    computed (one pass): the digest is the one a separate pass gives, the staged and stored
    files have exactly those bytes, and the value reads back equal."""
    import numpy as np

    monkeypatch.setattr(serialization, "BACKGROUND_BYTES", 1024)
    monkeypatch.setattr(serialization, "_CHUNK", 64 * 1024)
    release = tmp_path / "release"
    monkeypatch.setenv("JUPYTER_MLOPS_TEST_HOLD_WRITE", f"copy:{release}")
    value = np.random.default_rng(0).random(size)
    _fmt, buffers = serialization.encode(value)
    entry = serialization.dump(value, tmp_path / "artifacts", background=True)
    assert entry["pending"] and entry["digest"] == serialization._digest(buffers)
    stage = serialization.staging_path(entry["path"])
    assert serialization.file_digest(stage) == entry["digest"]  # readable from memory now
    value[:] = -1.0  # the step goes on and changes it: the saved value is unaffected
    release.write_text("go")
    serialization.flush(30)
    assert not stage.exists()
    assert serialization.file_digest(entry["path"]) == entry["digest"]
    assert not np.array_equal(serialization.load(entry["path"]), value)
    assert serialization.load(entry["path"]).sum() == np.random.default_rng(0).random(size).sum()


def test_failed_background_write_is_seen_at_once(tmp_path: Path, monkeypatch) -> None:
    """The writer fails (its store folder became a file): readers get the reason now."""
    import numpy as np

    release = tmp_path / "release"
    monkeypatch.setenv("JUPYTER_MLOPS_TEST_HOLD_WRITE", f"copy:{release}")
    monkeypatch.setattr(serialization, "BACKGROUND_BYTES", 1024)
    arts = tmp_path / "artifacts"
    entry = serialization.dump(np.arange(10_000.0), arts, background=True)
    assert entry["pending"]
    shard = Path(entry["path"]).parent
    shard.rmdir()
    shard.write_text("not a folder")
    release.write_text("go")
    serialization.flush(30)
    started = time.monotonic()
    with pytest.raises(serialization.ArtifactMissing, match="was not saved: NotADirectoryError"):
        serialization.load(entry["path"])
    assert time.monotonic() - started < 5
    assert serialization.wait_for(entry["path"], timeout=600) is False


def _big_notebook(tmp_path: Path, consumer: str) -> Path:
    return write_notebook(
        tmp_path / "big.ipynb",
        [
            code("import numpy as np\nimport time", "setup"),
            code("big = np.ones(300_000)", "step:a"),  # 2.4 MB > the lowered threshold
            code(consumer, "step:b"),
            code("total", "metrics"),
        ],
    )


def _env(hold: str) -> dict[str, str]:
    return {
        **cli_env(),
        "JUPYTER_MLOPS_TEST_BACKGROUND_BYTES": str(1 << 20),
        "JUPYTER_MLOPS_TEST_HOLD_WRITE": hold,
    }


def _wait_for_temp(store: Path, proc: subprocess.Popen, where: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        stage = serialization.staging_dir(store / "artifacts")
        found = list(stage.glob(".tmp-*")) if where == "staging" else []
        found += list((store / "artifacts").glob("*/.tmp-*")) if where == "store" else []
        if found:
            return
        time.sleep(0.05)
    raise AssertionError(f"no temporary file appeared in {where} (rc {proc.poll()})")


@pytest.mark.parametrize("where", ["staging", "store"])
def test_b4_sigint_while_writing_leaves_no_temp_files(tmp_path: Path, where: str) -> None:
    nb = _big_notebook(tmp_path, "total = float(big.sum())")
    store = tmp_path / "s"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store", str(store),
         "--jobs", "1", "--json"],
        env=_env(where), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for_temp(store, proc, where)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    record = json.loads(out)
    assert record["status"] == "cancelled", err
    assert _temp_files(store) == []
    a = record["steps"]["a"]
    assert a["status"] == "failed"  # never 'succeeded' without its output
    # staging: the in-memory copy is made as the step ends, so the step itself was stopped;
    # store: the copy to disk runs after the step's code: its output is reported not saved
    # (or, when the signal lands as the step is being recorded, the step was stopped)
    expected = {"Cancelled"} if where == "staging" else {"OutputNotSaved", "Cancelled"}
    assert a["error"]["ename"] in expected, a["error"]
    # the held write of ``big`` never completed (step b, which reuses ``big`` in the same
    # kernel, may have finished first and saved its own small ``total``)
    saved = [p for p in (store / "artifacts").glob("*/*[0-9a-f]") if p.stat().st_size > 1 << 20]
    assert saved == []


def test_b4_later_step_timeout_while_writing(tmp_path: Path) -> None:
    nb = _big_notebook(tmp_path, "time.sleep(60)\ntotal = float(big.sum())")
    store = tmp_path / "s"
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store", str(store),
         "--jobs", "1", "--step-timeout", "4", "--json"],
        env=_env("store"), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    record = json.loads(proc.stdout)
    assert proc.returncode == 1 and record["status"] == "failed"
    assert record["steps"]["b"]["error"]["ename"] == "StepTimeout"
    assert record["steps"]["a"]["status"] == "failed"
    assert record["steps"]["a"]["error"]["ename"] == "OutputNotSaved"
    assert _temp_files(store) == []


def test_stale_temp_files_of_dead_writers_are_removed_on_open(tmp_path: Path) -> None:
    store = tmp_path / "s"
    Store.open(store).close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    shard = store / "artifacts" / "ab"
    shard.mkdir()
    stage = serialization.private_dir(serialization.staging_dir(store / "artifacts"))
    stale = [shard / f".tmp-{dead.pid}-x1", stage / f".tmp-{dead.pid}-x2"]
    live = [shard / f".tmp-{os.getpid()}-y1", stage / f".tmp-{os.getpid()}-y2"]
    done = "ab" + "0" * 62  # a staging copy whose store copy is complete
    (shard / done).write_bytes(b"x")
    for path in [*stale, *live, stage / done]:
        path.write_bytes(b"partial")
    Store.open(store).close()
    assert [p.exists() for p in stale] == [False, False]
    assert [p.exists() for p in live] == [True, True]
    assert not (stage / done).exists() and (shard / done).exists()
    for path in live:
        path.unlink()


def test_tampered_staging_file_is_refused(tmp_path: Path) -> None:
    """A consumer in another kernel reads the in-memory staging copy: tampered → error."""
    go, mark, release = tmp_path / "go", tmp_path / "mark", tmp_path / "release"
    nb = write_notebook(
        tmp_path / "stage.ipynb",
        [
            code(
                "import os, time\nimport numpy as np\n"
                f"if os.path.exists({str(mark)!r}):  # only in the consumer's kernel\n"
                f"    while not os.path.exists({str(go)!r}):\n"
                "        time.sleep(0.05)",
                "setup",
            ),
            code(f"big = np.ones(300_000)\nopen({str(mark)!r}, 'w').close()", "step:a"),
            code("total = float(big.sum())", "step:b"),
            code("total", "metrics"),
        ],
    )
    store = tmp_path / "s"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store", str(store),
         "--isolate", "--json"],
        env=_env(f"store:{release}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stage_dir = serialization.staging_dir(store / "artifacts")
        deadline = time.monotonic() + 120
        staged: list[Path] = []
        while not staged and time.monotonic() < deadline and proc.poll() is None:
            staged = (
                [p for p in stage_dir.glob("*") if len(p.name) == 64] if stage_dir.is_dir() else []
            )
            time.sleep(0.05)
        assert staged, "the value was never staged"
        with open(staged[0], "r+b") as fh:
            fh.seek(1000)
            fh.write(b"\x07" * 8)
        go.write_text("go")
        deadline = time.monotonic() + 120  # the store copy is held until b has read
        while time.monotonic() < deadline and proc.poll() is None:
            with sqlite3.connect(store / "runs.db") as db:
                row = db.execute("SELECT status FROM steps WHERE name = 'b'").fetchone()
            if row and row[0] == "failed":
                break
            time.sleep(0.1)
        release.write_text("go")
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    record = json.loads(out)
    assert record["status"] == "failed", err
    error = record["steps"]["b"]["error"]
    assert error["ename"] == "CorruptArtifact" and "'big'" in error["evalue"]
    assert "total" not in record["metrics"]
