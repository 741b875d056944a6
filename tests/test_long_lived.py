"""An engine fit for a long-running server: no kernel outlives its run (even one still
starting), no file descriptor or connection leaks across many runs, failed surfaces leave no
run marked running, and MLflow is quieted without touching the host's environment."""

from __future__ import annotations

import gc as garbage
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from runner_fixtures import code, write_notebook

from jupyter_mlops.runner.kernels import KernelSlot
from jupyter_mlops.service import MlopsService


def kernel_processes() -> list[psutil.Process]:
    """Kernels started by this process that are still running (zombies do not count)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(child.cmdline()):
                out.append(child)
        except psutil.Error:
            continue
    return out


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_kernel_still_starting_at_shutdown_is_stopped(tmp_path: Path) -> None:
    started: list[int] = []
    slot = KernelSlot(0, "python3", str(tmp_path), tmp_path / "k.log", str(tmp_path / "k"),
                      on_start=started.append)  # fmt: skip
    warming = threading.Thread(target=slot.start)
    warming.start()
    deadline = time.monotonic() + 10
    while not slot._lock.locked() and time.monotonic() < deadline:
        time.sleep(0.001)
    slot.shutdown()  # the run ends while its prewarmed kernel is still starting
    warming.join(60)
    assert started, "the kernel start did not finish"
    assert not psutil.pid_exists(started[0]) or (
        psutil.Process(started[0]).status() == psutil.STATUS_ZOMBIE
    )
    with pytest.raises(RuntimeError, match="shut down"):
        slot.start()  # nothing starts a kernel in a slot that was shut down


class Boom(Exception):
    pass


def test_twenty_runs_in_one_process_leave_nothing_behind(tmp_path: Path, capsys) -> None:
    nb = write_notebook(
        tmp_path / "diamond.ipynb",
        [
            code("base = 1", "step:load"),
            code("a = base + 1", "step:left"),
            code("b = base + 2", "step:right"),
            code("total = a + b", "step:join"),
            code("total", "metrics"),
        ],
    )
    service = MlopsService.create(store=str(tmp_path / "store"))

    def explode(kind: str, name: str, info: dict) -> None:
        if kind == "step" and info["status"] == "succeeded":
            # raised in the run's thread while a prewarmed kernel may still be starting
            raise Boom("a surface's progress callback failed")

    def store_fds() -> list[str]:
        links = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                links.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                continue
        return [link for link in links if "runs.db" in link or link.endswith("run.lock")]

    def one_run(i: int) -> None:
        if i % 5 == 4:  # a surface whose callback raises mid-run
            with pytest.raises(Boom):
                service.run(str(nb), use_cache=False, jobs=2, report="none", on_event=explode)
        else:
            record = service.run(str(nb), use_cache=False, jobs=2, report="none")
            assert record["status"] == "succeeded", record
        assert store_fds() == []  # the store's connection and the run's lock are closed

    for i in range(3):  # warm up: imports, zmq context, papermill's engine registry
        one_run(i)
    garbage.collect()
    fds0, rss0 = open_fds(), psutil.Process().memory_info().rss
    for i in range(3, 23):
        one_run(i)
        assert kernel_processes() == [], f"kernels left after run {i}"
    garbage.collect()
    fds1, rss1 = open_fds(), psutil.Process().memory_info().rss
    with capsys.disabled():
        print(
            f"\n20 runs: open fds {fds0} -> {fds1}, RSS {rss0 / 2**20:.1f} MiB -> "
            f"{rss1 / 2**20:.1f} MiB"
        )
    assert fds1 <= fds0
    assert rss1 - rss0 < 64 * 2**20
    runs = service.runs(limit=100)
    assert len(runs) == 23
    assert {r["status"] for r in runs} == {"succeeded", "failed"}  # none left "running"
    assert sum(r["status"] == "failed" for r in runs) == 4


def test_quieting_mlflow_leaves_the_environment_alone() -> None:
    script = (
        "import os\n"
        "before = dict(os.environ)\n"
        "from jupyter_mlops.registry.client import import_mlflow\n"
        "import_mlflow()\n"
        "from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR as bar\n"
        "from mlflow.telemetry.client import get_telemetry_client\n"
        "print(dict(os.environ) == before, bar.get(), get_telemetry_client())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "None"]
