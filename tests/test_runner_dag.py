"""Parallel branches, failures, timeouts, cancellation and crashes, with real kernels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from runner_fixtures import cli_env, code, mlops, run_json, statuses, write_notebook

from jupyter_mlops.errors import NotFound
from jupyter_mlops.runner.store import Store


def _t(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def diamond(tmp_path: Path, a_code: str = "import time\ntime.sleep(1.5)\na = base + 1") -> Path:
    return write_notebook(
        tmp_path / "diamond.ipynb",
        [
            code("base = 1", "step:load"),
            code(a_code, "step:feat_a"),
            code("import time\ntime.sleep(1.5)\nb = base + 2", "step:feat_b"),
            code("total = a + b", "step:train"),
            code("total", "metrics"),
        ],
    )


def test_diamond_branches_overlap_with_two_jobs(tmp_path: Path) -> None:
    nb = diamond(tmp_path)
    code_, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), "--jobs", "2")
    assert code_ == 0, stderr
    assert record["metrics"] == {"total": 5}
    store = Store.open(tmp_path / "s")
    steps = store.get_run(record["id"])["steps"]
    a, b = steps["feat_a"], steps["feat_b"]
    assert _t(a["started_at"]) < _t(b["finished_at"]) and _t(b["started_at"]) < _t(a["finished_at"])
    assert _t(steps["train"]["started_at"]) >= max(_t(a["finished_at"]), _t(b["finished_at"]))


def test_one_job_runs_branches_one_after_the_other(tmp_path: Path) -> None:
    nb = diamond(tmp_path, a_code="a = base + 1")
    code_, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), "--jobs", "1")
    assert code_ == 0, stderr
    steps = Store.open(tmp_path / "s").get_run(record["id"])["steps"]
    a, b = steps["feat_a"], steps["feat_b"]
    assert _t(a["finished_at"]) <= _t(b["started_at"]) or _t(b["finished_at"]) <= _t(
        a["started_at"]
    )


@pytest.mark.parametrize(
    ("failing", "ename"),
    [
        ("a = base + 1\nraise ValueError('bad feature')", "ValueError"),
        ("import os\na = 1\nos._exit(1)", "DeadKernelError"),
    ],
)
def test_failed_step_skips_dependents_and_finishes_branch(tmp_path: Path, failing, ename) -> None:
    nb = diamond(tmp_path, a_code=failing)
    code_, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), "--jobs", "2")
    assert code_ == 1
    assert record["status"] == "failed"
    assert statuses(record) == {
        "load": "succeeded",
        "feat_a": "failed",
        "feat_b": "succeeded",
        "train": "skipped",
    }
    error = record["steps"]["feat_a"]["error"]
    assert error["ename"] == ename
    assert error["cell"] == 1
    notebook = record["steps"]["feat_a"]["notebook"]
    assert f"step 'feat_a' failed in cell 2: {ename}" in stderr
    assert notebook in stderr
    executed = json.loads(Path(notebook).read_text())
    assert any(
        o.get("output_type") == "error" for c in executed["cells"] for o in c.get("outputs", [])
    )
    if ename == "ValueError":
        assert error["evalue"] == "bad feature"
    assert "Traceback" not in stderr


def test_step_timeout(tmp_path: Path) -> None:
    nb = diamond(tmp_path, a_code="import time\ntime.sleep(60)\na = 1")
    start = time.monotonic()
    code_, record, _ = run_json(str(nb), "--store", str(tmp_path / "s"), "--step-timeout", "10")
    assert time.monotonic() - start < 55
    assert code_ == 1
    assert record["steps"]["feat_a"]["error"]["ename"] == "StepTimeout"
    assert record["steps"]["feat_b"]["status"] == "succeeded"


def test_unpassable_variable_names_it(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "gen.ipynb",
        [
            code("numbers = (i for i in range(3))", "step:make"),
            code("total = sum(numbers)", "step:use"),
        ],
    )
    code_, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"))
    assert code_ == 1
    error = record["steps"]["make"]["error"]
    assert error["ename"] == "PassError"
    assert error["evalue"].startswith(
        "variable 'numbers' of type generator cannot be passed from step 'make' to 'use'"
    )
    assert "Recompute it in the consuming step" in error["evalue"]
    assert "setup cell" in error["evalue"]
    assert record["steps"]["use"]["status"] == "skipped"


def _alive(pid: int) -> bool:
    """A running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _start_run(nb: Path, store: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store", str(store)],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_running(store: Path, step: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (store / "runs.db").exists():
            try:
                with Store.open_existing(store) as db:
                    runs = db.list_runs()
            except NotFound:  # the run is creating the store's tables right now
                runs = []
            if runs and runs[0]["steps"][step]["status"] == "running":
                return runs[0]["id"]
        time.sleep(0.2)
    raise AssertionError(f"step {step} never started")


def test_sigterm_cancels_the_run(tmp_path: Path) -> None:
    nb = diamond(tmp_path, a_code="import time\ntime.sleep(60)\na = 1")
    store = tmp_path / "s"
    proc = _start_run(nb, store)
    run_id = _wait_running(store, "feat_a")
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    record = Store.open(store).get_run(run_id)
    assert record["status"] == "cancelled"
    assert record["steps"]["train"]["status"] == "skipped"
    assert record["steps"]["feat_a"]["status"] == "failed"
    assert record["steps"]["feat_a"]["error"]["ename"] == "Cancelled"
    assert "Traceback" not in stderr


def test_killed_run_is_interrupted(tmp_path: Path) -> None:
    nb = diamond(tmp_path, a_code="import time\ntime.sleep(60)\na = 1")
    store = tmp_path / "s"
    proc = _start_run(nb, store)
    run_id = _wait_running(store, "feat_a")
    import sqlite3

    deadline = time.monotonic() + 30
    kernels: list[int] = []
    while len(kernels) < 2 and time.monotonic() < deadline:  # feat_a's and the spare/load one
        time.sleep(0.2)
        db = sqlite3.connect(store / "runs.db", timeout=30)
        kernels = [r[0] for r in db.execute("SELECT pid FROM kernels")]
        db.close()
    assert kernels and all(_alive(pid) for pid in kernels)
    os.kill(proc.pid, signal.SIGKILL)
    # not reaped yet: the dead run lingers as a zombie that still has its /proc entry
    deadline = time.monotonic() + 10
    while _alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Path(f"/proc/{proc.pid}").exists()
    names = sorted(p.name for p in store.rglob("*"))
    database = {n: (store / n).read_bytes() for n in ("runs.db", "runs.db-wal")}
    shown = mlops("show", run_id, "--store", str(store), "--json")
    listed = mlops("runs", "--store", str(store), "--json")
    record = json.loads(shown.stdout)
    assert record["status"] == "interrupted"
    assert record["error"] == "the run's process died"  # the run-level error is public
    assert record["steps"]["feat_a"]["status"] == "failed"
    assert record["steps"]["feat_a"]["error"]["ename"] == "Interrupted"
    assert record["steps"]["train"]["status"] == "skipped"
    assert json.loads(listed.stdout)[0]["status"] == "interrupted"
    # reading changed nothing: no status written, no file created
    assert sorted(p.name for p in store.rglob("*")) == names
    assert {n: (store / n).read_bytes() for n in database} == database
    proc.wait(timeout=30)
    # the next run records the dead one and stops the kernels it left behind
    code_, again, stderr = run_json(str(diamond(tmp_path)), "--store", str(store))
    assert code_ == 0, stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in kernels):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in kernels)
    import sqlite3 as sqlite

    db = sqlite.connect(store / "runs.db")
    assert db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0] == (
        "interrupted"
    )
    db.close()


def test_failing_example_and_missing_metric_name_the_tag(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "ex.ipynb",
        [
            code("data = [1, 2, 3]\nmodel = sum", "step:train", "model:model", "example:data['x']"),
            code("import random\nif random.random() > 2:\n    score = 1", "step:score"),
            code("score", "metrics"),
        ],
    )
    code_, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), "--jobs", "1")
    assert code_ == 1
    train, score = record["steps"]["train"]["error"], record["steps"]["score"]["error"]
    assert train["ename"] == "PassError"
    assert train["evalue"].startswith(
        "the example input 'example:data['x']' failed at the end of step 'train': TypeError"
    )
    assert score["evalue"].startswith("metric 'score' is not defined at the end of step 'score'")
