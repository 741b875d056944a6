"""The Dask executor against real processes on 127.0.0.1: a ``dask scheduler``, two ``dask
worker`` processes without nanny (``b`` has the resource ``gpu=1``) and moto's S3 server.

One cluster for the module; the worker-loss test kills a worker, so it runs last."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dask_fixtures import start_cluster, start_s3
from runner_fixtures import cli_env, code, write_notebook

from jupyter_mlops.runner import run_pipeline
from jupyter_mlops.runner.executors import resolve_executor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """moto's S3 server and a bucket; the AWS variables set for this process too."""
    folder = tmp_path_factory.mktemp("dask")
    s3 = start_s3(folder)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in s3.env.items():
            mp.setenv(name, value)
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True).mkdir("bucket")
        try:
            yield {"folder": folder, "s3": s3}
        finally:
            s3.stop()


@pytest.fixture(scope="module")
def cluster(env):
    cluster = start_cluster(
        env["folder"] / "cluster",
        {**env["s3"].env, "JUPYTER_MLOPS_TEST_BACKGROUND_BYTES": str(1 << 20)},
        {"a": [], "b": ["--resources", "gpu=1"]},
    )  # outputs of 1 MiB or more are written in the background by the kernels
    yield cluster
    cluster.stop()


def dask(cluster, artifacts: str, retries: int | None = None):
    return resolve_executor("dask", cluster.address, artifacts, retries)


def diamond(folder: Path, a_code: str = "import time\ntime.sleep(1)\na = base + 1") -> Path:
    return write_notebook(
        folder / "diamond.ipynb",
        [
            code("base = 1", "step:load"),
            code(a_code, "step:feat_a"),
            code("import time\ntime.sleep(1)\nb = base + 2", "step:feat_b"),
            code("total = a + b", "step:train"),
            code("total", "metrics"),
        ],
    )


def run(nb: Path, store: Path, executor=None, **kw):
    return run_pipeline(nb, store=store, report="none", executor=executor, **kw).record


def steps(record: dict, key: str = "status") -> dict:
    return {name: step[key] for name, step in record["steps"].items()}


def test_diamond_on_dask_with_s3_equals_the_local_run(tmp_path, cluster):
    nb = diamond(tmp_path)
    local = run(nb, tmp_path / "local", jobs=2)
    remote = run(nb, tmp_path / "remote", dask(cluster, "s3://bucket/diamond"))
    assert remote["status"] == local["status"] == "succeeded"
    assert remote["metrics"] == local["metrics"] == {"total": 5}
    assert steps(remote) == steps(local)
    assert steps(remote, "outputs") == steps(local, "outputs")  # same values, same digests
    assert steps(remote, "reason") == steps(local, "reason")
    placement = steps(remote, "placement")
    assert all(p["executor"] == "dask" for p in placement.values())
    workers = set(cluster.addresses.values())
    assert {p["worker"] for p in placement.values()} <= workers
    # both branches ran at once, each on its own worker (one thread per worker)
    assert placement["feat_a"]["worker"] != placement["feat_b"]["worker"]
    assert steps(local, "placement") == dict.fromkeys(placement)
    # warm kernels: the steps a worker ran shared its kernel; stopped when the run ended
    kernels: dict[str, set[str]] = {}
    for p in placement.values():
        kernels.setdefault(p["worker"], set()).add(p["attempts"][-1]["kernel"])
    assert all(len(names) == 1 for names in kernels.values()), kernels
    from distributed import Client

    from jupyter_mlops.runner.executors.dask_worker import kernels_by_run

    with Client(cluster.address, set_as_default=False) as client:
        left = client.run(kernels_by_run)
    assert all(remote["id"] not in runs for runs in left.values()), left
    for name in cluster.addresses:  # nothing of the run is left in the workers' folders
        assert not (cluster.folder / f"w-{name}" / "jupyter-mlops" / "runs" / remote["id"]).exists()
    # the outputs are in S3 and in the local store, byte for byte
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    for name, outputs in steps(remote, "outputs").items():
        for digest in outputs.values():
            local_file = tmp_path / "remote" / "artifacts" / digest[:2] / digest
            assert fs.cat(f"bucket/diamond/{digest[:2]}/{digest}") == local_file.read_bytes(), name
    executed = json.loads(Path(remote["steps"]["train"]["notebook"]).read_text())
    assert executed["cells"][-1]["metadata"]["mlops"]["generated"] == "outputs"


def test_an_array_written_in_the_background_travels_through_s3(tmp_path, cluster):
    nb = write_notebook(
        tmp_path / "array.ipynb",
        [
            code("import numpy as np\narr = np.arange(400_000, dtype='int64')", "step:make"),
            code("total = int(arr.sum())", "step:use"),
            code("total", "metrics"),
        ],
    )
    local = run(nb, tmp_path / "local", jobs=1)
    remote = run(nb, tmp_path / "remote", dask(cluster, "s3://bucket/array"))
    assert remote["status"] == "succeeded", remote["steps"]
    assert remote["metrics"] == local["metrics"] == {"total": 399_999 * 400_000 // 2}
    digest = remote["steps"]["make"]["outputs"]["arr"]
    assert digest == local["steps"]["make"]["outputs"]["arr"]
    stored = tmp_path / "remote" / "artifacts" / digest[:2] / digest
    assert stored.stat().st_size > 3_200_000  # 3.2 MB of int64, in the local store too


def test_output_streams_while_the_step_runs(tmp_path, cluster):
    from datetime import datetime

    from jupyter_mlops.runner.store import Store

    nb = write_notebook(
        tmp_path / "live.ipynb",
        [code("import time\nprint('hello-live', flush=True)\ntime.sleep(3)\nx = 1", "step:talk")],
    )
    record = run(nb, tmp_path / "store", dask(cluster, str(tmp_path / "shared")))
    assert record["status"] == "succeeded"
    with Store.open_existing(tmp_path / "store") as db:
        events = db.events(record["id"])
    said = [e for e in events if e["kind"] == "output" and "hello-live" in e["text"]]
    assert len(said) == 1  # once: the final log does not repeat what was streamed

    def t(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    finished = t(record["steps"]["talk"]["finished_at"])
    assert (finished - t(said[0]["time"])).total_seconds() > 1.5  # seen while it slept


def test_cache_hits_across_executors_with_a_shared_folder(tmp_path, cluster):
    nb = diamond(tmp_path, a_code="a = base + 10")
    store, shared = tmp_path / "store", str(tmp_path / "shared")
    first = run(nb, store, jobs=2)
    assert set(steps(first).values()) == {"succeeded"}
    on_dask = run(nb, store, dask(cluster, shared))
    assert set(steps(on_dask).values()) == {"cached"}
    assert set(steps(on_dask, "cached_from").values()) == {first["id"]}
    # a step re-run on Dask reads inputs a local run produced (uploaded to the shared folder)
    refreshed = run(nb, store, dask(cluster, shared), refresh=["train"])
    assert steps(refreshed)["train"] == "succeeded" and refreshed["metrics"] == {"total": 14}
    assert refreshed["steps"]["train"]["placement"]["worker"] in cluster.addresses.values()
    # ... and the reverse: the local run hits what the Dask run computed
    again = run(nb, store, jobs=2)
    assert steps(again)["train"] == "cached"
    assert steps(again, "cached_from")["train"] == refreshed["id"]


def test_a_tampered_s3_object_is_refused(tmp_path, cluster):
    import s3fs

    token = uuid.uuid4().hex  # a value no worker has seen: read from S3
    nb = write_notebook(
        tmp_path / "tamper.ipynb",
        [
            code(f"base = {token!r}", "step:load"),
            code("a = base + '1'", "step:feat_a"),
        ],
    )
    store = tmp_path / "store"
    first = run(nb, store, jobs=2)
    assert first["status"] == "succeeded"
    digest = first["steps"]["load"]["outputs"]["base"]
    original = (store / "artifacts" / digest[:2] / digest).read_bytes()
    tampered = original.replace(token.encode(), token[::-1].encode())
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.pipe(f"bucket/tamper/{digest[:2]}/{digest}", tampered)  # same size, other bytes
    record = run(nb, store, dask(cluster, "s3://bucket/tamper"), refresh=["feat_a"])
    assert record["status"] == "failed"
    error = record["steps"]["feat_a"]["error"]
    assert error["ename"] == "CorruptArtifact" and error["generated"] == "inputs"
    assert f"s3://bucket/tamper/{digest[:2]}/{digest}" in error["evalue"]
    assert "does not match its digest" in error["evalue"]
    # the bad object was removed: the next run uploads the right one and succeeds
    assert not fs.exists(f"bucket/tamper/{digest[:2]}/{digest}")
    again = run(nb, store, dask(cluster, "s3://bucket/tamper"), refresh=["feat_a"])
    assert again["status"] == "succeeded", again["steps"]


def test_a_failing_step_comes_back_with_its_cell_and_traceback(tmp_path, cluster):
    nb = diamond(tmp_path, a_code="raise ValueError(f'boom {base}')\na = 1")
    local = run(nb, tmp_path / "local", jobs=2)
    remote = run(nb, tmp_path / "remote", dask(cluster, str(tmp_path / "shared")))
    assert remote["status"] == local["status"] == "failed"
    assert steps(remote) == steps(local) == {
        "load": "succeeded", "feat_a": "failed", "feat_b": "succeeded", "train": "skipped",
    }  # fmt: skip
    error = remote["steps"]["feat_a"]["error"]
    assert error == local["steps"]["feat_a"]["error"]
    assert error == {"cell": 1, "ename": "ValueError", "evalue": "boom 1", "generated": None}
    executed = json.loads(Path(remote["steps"]["feat_a"]["notebook"]).read_text())
    outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
    traceback = "".join(
        "".join(o.get("traceback", [])) for o in outputs if o["output_type"] == "error"
    )
    assert "ValueError" in traceback and "boom 1" in traceback
    attempts = remote["steps"]["feat_a"]["placement"]["attempts"]
    assert len(attempts) == 1 and attempts[0]["outcome"] == "ValueError: boom 1"


def test_resources_tags_route_steps_to_the_worker_that_has_them(tmp_path, cluster):
    nb = write_notebook(
        tmp_path / "gpu.ipynb",
        [
            code("base = 1", "step:load"),
            *[
                code(
                    f"import time\ntime.sleep(0.3)\nt{i} = base + {i}",
                    f"step:train{i}",
                    "resources:gpu=1",
                )
                for i in range(3)
            ],  # fmt: skip
            code("n = 2", "step:tpu", "resources:tpu=1"),
        ],
    )
    record = run(nb, tmp_path / "store", dask(cluster, str(tmp_path / "shared")))
    for i in range(3):
        assert record["steps"][f"train{i}"]["status"] == "succeeded"
        assert record["steps"][f"train{i}"]["placement"]["worker"] == cluster.addresses["b"]
    error = record["steps"]["tpu"]["error"]
    assert error["ename"] == "NoWorker" and "tpu=1" in error["evalue"]
    assert "--resources tpu=1" in error["evalue"]


def test_isolate_runs_each_step_in_a_fresh_kernel_on_the_worker(tmp_path, cluster):
    nb = write_notebook(
        tmp_path / "isolate.ipynb",
        [  # all on worker b (the only one with gpu=1): a warm kernel would serve all three
            code("import os\npa = os.getpid()", "step:a", "resources:gpu=1"),
            code("import os\npb = os.getpid()", "step:b", "resources:gpu=1"),
            code("import os\nkernels = len({pa, pb, os.getpid()})", "step:c", "resources:gpu=1"),
            code("kernels", "metrics"),
        ],
    )
    record = run(nb, tmp_path / "store", dask(cluster, str(tmp_path / "shared")), isolate=True)
    assert record["status"] == "succeeded", record["steps"]
    assert record["options"]["isolate"] is True
    assert record["metrics"] == {"kernels": 3}  # three steps, three kernel processes
    placement = steps(record, "placement")
    assert {p["worker"] for p in placement.values()} == {cluster.addresses["b"]}
    assert len({p["attempts"][-1]["kernel"] for p in placement.values()}) == 3
    from distributed import Client

    from jupyter_mlops.runner.executors.dask_worker import kernels_by_run

    with Client(cluster.address, set_as_default=False) as client:
        left = client.run(kernels_by_run)
    assert all(record["id"] not in runs for runs in left.values()), left


SECRET = "s3cr3t-DASK-'quoted'-xyz789"


def test_a_secret_is_in_nothing_the_dask_executor_writes(tmp_path, cluster, monkeypatch):
    """Not in the workers' files (kernel logs, step notebooks and logs) while the run goes
    on, not in the output events the scheduler keeps, not in the artifact store, not in the
    local store; a step that prints it from a warm kernel without reading it shows <secret>."""
    import threading

    import s3fs
    from distributed import Client

    from jupyter_mlops.runner.executors.dask_worker import output_topic

    marker = tmp_path / "waiting"
    nb = write_notebook(
        tmp_path / "secret.ipynb",
        [
            code('token = "dev-default-token"', "parameters", "secret:token"),
            code(
                "import os, time\nprint('using', token, flush=True)\n"
                "os.write(2, f'fd2 {token}\\n'.encode())  # the kernel process's stderr: its log\n"
                "time.sleep(1)  # the output is streamed meanwhile\nn = len(token)",
                "step:load",
                "resources:gpu=1",
            ),
            code("raise RuntimeError('bad ' + token)\nz = 1", "step:oops", "resources:gpu=1"),
            code(  # the warm kernel still has the value: printed without being a parameter
                "print('later', globals()['tok' + 'en'], flush=True)\nm = n + 1",
                "step:echo",
                "resources:gpu=1",
            ),
            code(
                f"import time\nopen({str(marker)!r}, 'w').write('x')\ntime.sleep(2)\nw = m",
                "step:wait",
                "resources:gpu=1",
            ),
        ],
    )
    monkeypatch.setenv("DASK_TEST_TOKEN", SECRET)
    store = tmp_path / "store"
    done: dict = {}

    def go() -> None:
        done["record"] = run(
            nb, store, dask(cluster, "s3://bucket/secret"),
            parameter_texts=[("token", "env:DASK_TEST_TOKEN")],
        )  # fmt: skip

    thread = threading.Thread(target=go)
    thread.start()
    deadline = time.monotonic() + 90
    while not marker.exists():  # load, oops and echo are over; wait sleeps
        assert thread.is_alive() and time.monotonic() < deadline, done
        time.sleep(0.05)
    needles = [SECRET.encode(), json.dumps(SECRET).encode()[1:-1], b"s3cr3t-DASK"]
    during = files_holding(cluster.folder, needles)  # workers' folders and logs
    thread.join(120)
    record = done["record"]
    assert during == []
    assert steps(record) == {
        "load": "succeeded", "oops": "failed", "echo": "succeeded", "wait": "succeeded",
    }  # fmt: skip
    assert record["parameters"] == {"token": "<secret>"}
    assert record["steps"]["oops"]["error"]["evalue"] == "bad <secret>"
    echo = Path(record["steps"]["echo"]["notebook"]).read_text()
    assert "later <secret>" in echo  # printed by load's kernel (all steps on worker b)
    with Client(cluster.address, set_as_default=False) as client:
        events = client.get_events(output_topic(record["id"]))
    texts = "".join(msg.get("text", "") for _, msg in events)
    assert "using <secret>" in texts and "s3cr3t-DASK" not in texts
    assert files_holding(store, needles) == []
    assert files_holding(cluster.folder, needles) == []
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    objects = fs.find("bucket/secret")
    assert objects  # the outputs went through S3
    assert not [o for o in objects if any(n in fs.cat(o) for n in needles)]


def files_holding(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):  # a file removed while we look
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {n!r}" for n in needles if n in data]
    return found


@pytest.mark.parametrize("how", ["cancel", "client-dies"])
def test_cancel_or_a_lost_client_stops_the_step_on_the_worker(tmp_path, cluster, how):
    marker = tmp_path / "kernel.pid"
    nb = write_notebook(
        tmp_path / "slow.ipynb",
        [
            code(
                f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\n"
                "time.sleep(120)\nx = 1",
                "step:slow",
            ),  # fmt: skip
        ],
    )
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store",
         str(tmp_path / "store"), "--executor", "dask", "--scheduler", cluster.address,
         "--artifacts", str(tmp_path / "shared"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not (marker.exists() and marker.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    kernel = int(marker.read_text())
    proc.send_signal(signal.SIGINT if how == "cancel" else signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    if how == "cancel":
        assert proc.returncode == 130, err
        record = json.loads(out)
        assert record["status"] == "cancelled"
        assert record["steps"]["slow"]["status"] == "failed"
        assert record["steps"]["slow"]["error"]["ename"] == "Cancelled"
    deadline = time.monotonic() + 20
    while _alive(kernel):  # the worker killed the step's kernel
        assert time.monotonic() < deadline, "the kernel on the worker still runs"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_worker_lost_mid_step_is_retried_on_the_other_worker(tmp_path, cluster):
    """Last in the module: it kills a worker."""
    marker = tmp_path / "first.pids"
    nb = write_notebook(
        tmp_path / "lost.ipynb",
        [
            code("base = 1", "step:load"),
            code(
                "import os, time\n"
                f"if not os.path.exists({str(marker)!r}):\n"
                f"    open({str(marker)!r}, 'w').write(f'{{os.getppid()}} {{os.getpid()}}')\n"
                "    time.sleep(120)\n"
                "slow = base + 1",
                "step:slow",
            ),
        ],
    )
    store = tmp_path / "store"
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store", str(store),
         "--executor", "dask", "--scheduler", cluster.address, "--artifacts",
         str(tmp_path / "shared"), "--retries", "1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not (marker.exists() and marker.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    worker_pid, kernel_pid = map(int, marker.read_text().split())
    victim = next(n for n, p in cluster.workers.items() if p.pid == worker_pid)
    os.kill(worker_pid, signal.SIGKILL)
    os.kill(kernel_pid, signal.SIGKILL)  # its kernel, orphaned by the SIGKILL
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    record = json.loads(out)
    assert record["status"] == "succeeded" and record["steps"]["slow"]["status"] == "succeeded"
    from jupyter_mlops.runner.store import Store

    with Store.open_existing(store) as db:
        placement = db.get_run(record["id"])["steps"]["slow"]["placement"]
    attempts = placement["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert attempts[0]["outcome"].startswith("WorkerLost")
    assert cluster.addresses[victim] in attempts[0]["outcome"]
    survivor = next(a for n, a in cluster.addresses.items() if n != victim)
    assert attempts[1]["worker"] == placement["worker"] == survivor
    assert attempts[1]["outcome"] == "succeeded"
