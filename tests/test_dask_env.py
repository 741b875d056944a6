"""The Dask executor's options and environment: clear one-line errors before anything is
recorded, nothing of Dask imported by local runs, and a cache miss explained when the
workers' kernel environment differs from the one that filled the cache."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dask_fixtures import start_cluster
from runner_fixtures import cli_env, code, mlops, write_notebook

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.runner import run_pipeline
from jupyter_mlops.runner.executors import resolve_executor
from jupyter_mlops.runner.store import Store


def _notebook(folder: Path) -> Path:
    return write_notebook(
        folder / "two.ipynb", [code("x = 20", "step:first"), code("y = x + 1", "step:second")]
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_option_errors_are_one_line_and_record_nothing(tmp_path):
    nb = _notebook(tmp_path)
    store = tmp_path / "store"
    done = mlops("run", str(nb), "--store", str(store), "--executor", "dask")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --executor dask needs the scheduler's address: --scheduler tcp://HOST:8786 "
        "(or $JUPYTER_MLOPS_DASK_SCHEDULER)"
    )
    done = mlops("run", str(nb), "--store", str(store), "--scheduler", "tcp://127.0.0.1:1")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --scheduler only apply with --executor dask"
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    env = {**cli_env(), "JUPYTER_MLOPS_DASK_CONNECT_TIMEOUT": "1"}
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store", str(store),
         "--executor", "dask", "--scheduler", address, "--artifacts", str(tmp_path / "shared")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: cannot reach the Dask scheduler at {address} (no answer within 1 s): start it"
    )
    assert not (store / "runs.db").exists()  # no half-written run


def test_the_executor_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_EXECUTOR", "dask")
    with pytest.raises(InvalidInput, match=r"\$JUPYTER_MLOPS_DASK_SCHEDULER"):
        resolve_executor()
    monkeypatch.setenv("JUPYTER_MLOPS_DASK_SCHEDULER", "127.0.0.1:8786")
    monkeypatch.setenv("JUPYTER_MLOPS_ARTIFACTS", "s3://user:pw@bucket/runs")
    spec = resolve_executor()
    assert (spec.name, spec.scheduler, spec.retries) == ("dask", "tcp://127.0.0.1:8786", 1)
    assert spec.recorded()["artifacts"] == "s3://bucket/runs"  # no credentials recorded
    with pytest.raises(InvalidInput, match="--retries must be 0 or more"):
        resolve_executor(retries=-1)
    with pytest.raises(InvalidInput, match="unknown executor"):
        resolve_executor("ray")
    monkeypatch.setenv("JUPYTER_MLOPS_EXECUTOR", "local")
    assert resolve_executor().local


def test_a_local_run_imports_nothing_of_dask_or_fsspec(tmp_path):
    nb = _notebook(tmp_path)
    script = (
        "import sys\n"
        "from jupyter_mlops.runner import run_pipeline\n"
        "import jupyter_mlops.cli.run_cmd\n"
        f"run = run_pipeline({str(nb)!r}, store={str(tmp_path / 'store')!r}, report='none')\n"
        "assert run.status == 'succeeded', run.record\n"
        "print(sorted(m for m in ('distributed', 'dask', 'fsspec', 's3fs') if m in sys.modules))\n"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], capture_output=True, text=True, env=cli_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_miss_because_the_workers_environment_differs_says_so(tmp_path):
    extra = tmp_path / "extra"
    (extra / "fakepkg-1.0.dist-info").mkdir(parents=True)
    (extra / "fakepkg-1.0.dist-info" / "METADATA").write_text("Name: fakepkg\nVersion: 1.0\n")
    cluster = start_cluster(tmp_path / "cluster", {}, {"odd": []}, {"odd": [str(extra)]})
    try:
        nb = _notebook(tmp_path)
        store = tmp_path / "store"
        local = run_pipeline(nb, store=store, report="none")
        assert local.status == "succeeded"
        spec = resolve_executor("dask", cluster.address, str(tmp_path / "shared"))
        remote = run_pipeline(nb, store=store, report="none", executor=spec).record
        # a cluster whose workers are gone: refused before anything is recorded
        worker = cluster.workers.pop("odd")
        worker.terminate()
        worker.wait(30)
        from distributed import Client

        with Client(cluster.address, set_as_default=False) as client:
            while client.scheduler_info(n_workers=-1)["workers"]:
                time.sleep(0.1)
        with pytest.raises(InvalidInput, match="has no workers: start some"):
            run_pipeline(nb, store=store, report="none", executor=spec)
        with Store.open_existing(store) as db:
            assert len(db.list_runs(None, 10)) == 2
    finally:
        cluster.stop()
    assert remote["status"] == "succeeded"
    assert {s["status"] for s in remote["steps"].values()} == {"succeeded"}
    reason = remote["steps"]["first"]["reason"]
    assert reason == "worker environment differs: only on the workers: fakepkg 1.0", reason
    assert (
        json.loads(json.dumps(remote["steps"]["second"]["placement"]))["worker"]
        == (cluster.addresses["odd"])
    )


def test_server_runs_record_the_configured_executor(tmp_path):
    """``c.MlopsExtension.executor/dask_scheduler/artifacts`` become the service's executor:
    a background run queued by the server records it, and its run process follows it."""
    from jupyter_mlops.extension import MlopsExtension
    from jupyter_mlops.service import MlopsService

    assert MlopsExtension().executor_spec() is None
    extension = MlopsExtension()
    extension.executor, extension.dask_scheduler = "dask", "127.0.0.1:8786"
    extension.artifacts = "s3://bucket/team"
    service = MlopsService.create(store=str(tmp_path / "store"), root_dir=tmp_path)
    service.executor = extension.executor_spec()
    _notebook(tmp_path)
    run_id, root = service.queue_run("two.ipynb")
    with Store.open_existing(root) as db:
        options = db.get_run(run_id)["options"]
    assert options["executor"] == {
        "name": "dask", "scheduler": "tcp://127.0.0.1:8786", "artifacts": "s3://bucket/team",
        "retries": 1,
    }  # fmt: skip
    assert options["jobs"] == 2  # steps in flight on the cluster: all of them
    assert service.info()["executor"] == options["executor"]  # GET /mlops/api/info shows it


def test_a_cluster_set_with_executor_local_is_offered_per_run(tmp_path):
    """``executor='local'`` with a scheduler and artifacts: runs are local unless the request
    asks for ``dask``; GET info shows both."""
    from jupyter_mlops.extension import MlopsExtension
    from jupyter_mlops.service import MlopsService

    extension = MlopsExtension()
    extension.executor, extension.dask_scheduler = "local", "127.0.0.1:8786"
    extension.artifacts = str(tmp_path / "shared")
    service = MlopsService.create(store=str(tmp_path / "store"), root_dir=tmp_path)
    service.executor, service.cluster = extension.executor_spec(), extension.cluster_spec()
    assert service.info()["executor"]["name"] == "local"
    assert service.info()["cluster"]["scheduler"] == "tcp://127.0.0.1:8786"
    _notebook(tmp_path)
    default, _ = service.queue_run("two.ipynb")
    asked, root = service.queue_run("two.ipynb", executor="dask")
    with Store.open_existing(root) as db:
        assert "executor" not in db.get_run(default)["options"]  # this machine
        assert db.get_run(asked)["options"]["executor"]["scheduler"] == "tcp://127.0.0.1:8786"
    bare = MlopsService.create(store=str(tmp_path / "store"), root_dir=tmp_path)
    with pytest.raises(InvalidInput, match="needs a Dask cluster in the server settings"):
        bare.queue_run("two.ipynb", executor="dask")


def test_a_queued_run_whose_scheduler_is_unreachable_fails_with_a_run_level_error(
    tmp_path, monkeypatch
):
    """A run queued by the server starts later in a run process: nothing listens at the
    scheduler's address then, so the run fails at once with one line saying where and what
    to do (no traceback, no hang, no step started)."""
    from jupyter_mlops.runner.executors import dask as dask_executor
    from jupyter_mlops.service import MlopsService

    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    service = MlopsService.create(store=str(tmp_path / "store"), root_dir=tmp_path)
    service.executor = resolve_executor("dask", address, str(tmp_path / "shared"))
    _notebook(tmp_path)
    run_id, root = service.queue_run("two.ipynb")
    done = service.run_queued(root, run_id)  # what the server's run process calls
    assert done is not None and done["status"] == "failed"
    with Store.open_existing(root) as db:
        record = db.get_run(run_id)
        events = db.events(run_id)
    error = record["error"]
    assert error.startswith(
        f"the run could not start: cannot reach the Dask scheduler at {address} "
        "(no answer within 1 s): start it (`dask scheduler`) or fix its address"
    )
    assert "c.MlopsExtension.dask_scheduler" in error and "\n" not in error
    assert {s["status"] for s in record["steps"].values()} == {"skipped"}
    assert events[-1]["kind"] == "run" and events[-1]["error"] == error  # the panel's line


@pytest.mark.slow
def test_a_scheduler_lost_mid_run_ends_the_run_with_one_clear_line(tmp_path):
    """Its own scheduler (killed mid-step) and worker: the run fails within the reconnection
    timeout, its record says what happened and what to do; no traceback, no hang."""
    cluster = start_cluster(tmp_path / "cluster", {}, {"solo": []})
    marker = tmp_path / "started"
    nb = write_notebook(
        tmp_path / "lost.ipynb",
        [
            code(
                f"import time\nopen({str(marker)!r}, 'w').write('x')\ntime.sleep(60)\na = 1",
                "step:slow",
            ),
            code("b = a + 1", "step:after"),
        ],
    )
    store = tmp_path / "store"
    try:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store", str(store),
             "--executor", "dask", "--scheduler", cluster.address, "--artifacts",
             str(tmp_path / "shared")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**cli_env(), "JUPYTER_MLOPS_DASK_CONNECT_TIMEOUT": "2"},
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        assert cluster.scheduler is not None
        cluster.scheduler.kill()
        cluster.scheduler.wait(10)
        out, err = proc.communicate(timeout=60)
    finally:
        cluster.stop()
    lost = (
        f"lost the connection to the Dask scheduler at {cluster.address} during the run: "
        "check that it still runs (or restart it), then run again"
    )
    assert proc.returncode == 1, err  # a failed run
    assert "Traceback" not in err and lost in err, err
    with Store.open_existing(store) as db:
        (run,) = db.list_runs(None, 10)
        record = db.get_run(run["id"])
    assert record["status"] == "failed" and record["error"].startswith(lost)
    assert record["steps"]["slow"]["error"]["ename"] == "SchedulerLost"
    assert record["steps"]["after"]["status"] == "skipped"


def test_resources_tags_compile_to_amounts_and_malformed_ones_are_errors(tmp_path):
    from jupyter_mlops.compiler import compile_notebook
    from jupyter_mlops.errors import MlopsError

    nb = write_notebook(
        tmp_path / "res.ipynb",
        [
            code("x = 1", "step:prep"),
            code("y = x", "step:train", "resources:gpu=1", "resources:memory=8GiB"),
        ],
    )
    steps = {s.name: s for s in compile_notebook(str(nb)).steps}
    assert steps["prep"].resources == {}
    assert steps["train"].resources == {"gpu": 1, "memory": 8 * 2**30}
    assert steps["train"].to_dict()["resources"] == {"gpu": 1, "memory": 8 * 2**30}
    bad = write_notebook(tmp_path / "bad.ipynb", [code("x = 1", "step:a", "resources:gpu")])
    with pytest.raises(MlopsError, match=r"malformed tag 'resources:gpu': expected resources:NAME"):
        compile_notebook(str(bad))
