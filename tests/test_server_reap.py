"""When the Jupyter server starts, runs whose process died are recorded and their kernels
stopped (in the extension's executor, never on the event loop)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time

import pytest

from jupyter_mlops.runner.store import Store


@pytest.fixture
def dead_run(tmp_path):
    """A run recorded as running whose process is gone, with a kernel it left behind."""
    with Store.open(tmp_path / "store") as db:
        run_id = db.create_run("/nb.ipynb", "0" * 64, {}, ["a"], {})
        db.update_run(run_id, status="running")
        kernel = subprocess.Popen(["sleep", "120"], start_new_session=True)
        db.add_kernel(run_id, kernel.pid)
        db.release_run(run_id)  # as the death of the run's process does
    yield run_id, kernel
    kernel.kill()
    kernel.wait()


async def test_server_start_reaps_dead_runs(dead_run, jp_fetch, tmp_path):
    run_id, kernel = dead_run
    assert (await jp_fetch("mlops", "api", "info")).code == 200
    deadline = time.monotonic() + 60
    while kernel.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert kernel.returncode == -signal.SIGKILL
    db = sqlite3.connect(tmp_path / "store" / "runs.db")
    try:
        assert db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone() == (
            "interrupted",
        )
    finally:
        db.close()
