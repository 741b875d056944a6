"""Real processes on 127.0.0.1 for the Dask executor tests: a ``dask scheduler``, ``dask
worker`` processes (no nanny: a killed worker stays dead) and an S3 API (moto's server).

Every listener binds 127.0.0.1 on a free port (port 0, read back from the process), the
dashboards too; every folder is under the test's temporary directory."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from runner_fixtures import REPO

BIN = Path(sys.executable).parent
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _env(extra: dict[str, str] | None = None, pythonpath: list[str] | None = None) -> dict:
    env = dict(os.environ)
    env.update(extra or {})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *(pythonpath or [])])
    return env


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class S3Server:
    proc: subprocess.Popen
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {**AWS, "AWS_ENDPOINT_URL": self.endpoint}

    def stop(self) -> None:
        _stop(self.proc)


def start_s3(folder: Path) -> S3Server:
    """``moto_server`` on 127.0.0.1, port chosen by the OS (read from its log)."""
    log = folder / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", "0"],
            stdout=out, stderr=subprocess.STDOUT, env=_env(AWS),
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if found:
            return S3Server(proc, found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    _stop(proc)
    raise RuntimeError(f"moto_server did not start: {log.read_text(errors='replace')}")


@dataclass
class Cluster:
    folder: Path
    env: dict[str, str]
    scheduler: subprocess.Popen | None = None
    address: str = ""
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)  # name -> tcp address

    def start_worker(self, name: str, *args: str, pythonpath: list[str] | None = None) -> None:
        log = open(self.folder / f"worker-{name}.log", "wb")  # noqa: SIM115 - kept by the process
        self.workers[name] = subprocess.Popen(  # noqa: S603
            [
                str(BIN / "dask"), "worker", self.address, "--host", "127.0.0.1",
                "--name", name, "--nthreads", "1", "--no-nanny",
                "--dashboard-address", "127.0.0.1:0",
                "--local-directory", str(self.folder / f"w-{name}"), *args,
            ],
            stdout=log, stderr=subprocess.STDOUT,
            env={**self.env, "PYTHONPATH": os.pathsep.join([str(REPO), *(pythonpath or [])])},
        )  # fmt: skip

    def wait_for_workers(self, names: list[str]) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(len(self.workers), timeout=90)
            for address, info in client.scheduler_info(n_workers=-1)["workers"].items():
                self.addresses[info["name"]] = address
        assert set(names) <= set(self.addresses), self.addresses

    def stop(self) -> None:
        """Workers first, all at once (each takes a moment to close), then the scheduler."""
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            _stop(proc)
        if self.scheduler is not None:
            _stop(self.scheduler)


def start_cluster(folder: Path, env: dict[str, str], workers: dict[str, list[str]],
                  pythonpath: dict[str, list[str]] | None = None) -> Cluster:  # fmt: skip
    """A scheduler and the named workers (``{name: extra worker args}``), all on loopback."""
    folder.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(folder, _env(env))
    file = folder / "scheduler.json"
    log = open(folder / "scheduler.log", "wb")  # noqa: SIM115 - kept by the process
    cluster.scheduler = subprocess.Popen(  # noqa: S603
        [
            str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
            "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(file),
        ],
        stdout=log, stderr=subprocess.STDOUT, env=cluster.env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not file.exists():
        if time.monotonic() > deadline or cluster.scheduler.poll() is not None:
            cluster.stop()
            raise RuntimeError((folder / "scheduler.log").read_text(errors="replace"))
        time.sleep(0.1)
    time.sleep(0.1)
    cluster.address = json.loads(file.read_text())["address"]
    try:
        for name, args in workers.items():
            cluster.start_worker(name, *args, pythonpath=(pythonpath or {}).get(name))
        cluster.wait_for_workers(list(workers))
    except BaseException:
        cluster.stop()
        raise
    return cluster
