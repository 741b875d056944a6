"""The server extension's info route: real Jupyter server, real authentication."""

from __future__ import annotations

import json

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

import jupyter_mlops


async def test_info_with_token(jp_fetch, tmp_path):
    response = await jp_fetch("mlops", "api", "info")
    assert response.code == 200
    payload = json.loads(response.body)
    assert payload["version"] == jupyter_mlops.__version__
    assert payload["store"] == str((tmp_path / "store").resolve())
    assert payload["registry_uri"] == f"sqlite:///{(tmp_path / 'store').resolve()}/registry.db"


async def test_info_without_token_is_forbidden(jp_fetch):
    with pytest.raises(HTTPClientError) as excinfo:
        await jp_fetch("mlops", "api", "info", headers={"Authorization": ""})
    assert excinfo.value.code == 403


class DenyMlops(Authorizer):
    """Allows everything except our ``mlops`` resource."""

    def is_authorized(self, handler, user, action, resource):
        return resource != "mlops"


@pytest.fixture
def deny_mlops(jp_server_config):
    jp_server_config["ServerApp"]["authorizer_class"] = DenyMlops


async def test_info_checks_authorization(deny_mlops, jp_fetch):
    with pytest.raises(HTTPClientError) as excinfo:
        await jp_fetch("mlops", "api", "info")
    assert excinfo.value.code == 403


@pytest.fixture
def dask_settings(jp_server_config):
    """A server whose background runs go to a Dask cluster; credentials in the URLs."""
    jp_server_config["MlopsExtension"].update(
        executor="dask",
        dask_scheduler="tcp://sched-user:sched-pw@127.0.0.1:8786",
        artifacts="s3://AKIAKEY:s3cr3t-value@bucket/team?token=t0ken-value",
    )


async def test_info_shows_the_configured_executor_without_secrets(dask_settings, jp_fetch):
    response = await jp_fetch("mlops", "api", "info")
    body = response.body.decode()
    assert json.loads(body)["executor"] == {
        "name": "dask", "scheduler": "tcp://127.0.0.1:8786", "artifacts": "s3://bucket/team",
        "retries": 1,
    }  # fmt: skip
    for secret in ("sched-pw", "s3cr3t-value", "AKIAKEY", "t0ken-value", "sched-user"):
        assert secret not in body


async def test_info_shows_the_executor_of_the_environment(jp_fetch, monkeypatch):
    monkeypatch.delenv("JUPYTER_MLOPS_EXECUTOR", raising=False)
    payload = json.loads((await jp_fetch("mlops", "api", "info")).body)
    assert payload["executor"] == {"name": "local", "scheduler": None, "artifacts": None,
                                   "retries": 1}  # fmt: skip
    monkeypatch.setenv("JUPYTER_MLOPS_EXECUTOR", "dask")  # runs read it when they are queued
    monkeypatch.setenv("JUPYTER_MLOPS_DASK_SCHEDULER", "10.0.0.5:8786")
    monkeypatch.setenv("JUPYTER_MLOPS_ARTIFACTS", "/shared/artifacts")
    payload = json.loads((await jp_fetch("mlops", "api", "info")).body)
    assert payload["executor"]["name"] == "dask"
    assert payload["executor"]["scheduler"] == "tcp://10.0.0.5:8786"
    assert payload["executor"]["artifacts"] == "/shared/artifacts"
    monkeypatch.delenv("JUPYTER_MLOPS_DASK_SCHEDULER")  # misconfigured: said, not a 500
    payload = json.loads((await jp_fetch("mlops", "api", "info")).body)
    assert payload["executor"]["name"] == "dask"
    assert "--executor dask needs the scheduler's address" in payload["executor"]["error"]


@pytest.fixture
def idle_cluster(jp_server_config, tmp_path, monkeypatch):
    """Runs are local by default; a Dask cluster (nothing listens there) is offered per run."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("JUPYTER_MLOPS_DASK_CONNECT_TIMEOUT", "1")  # the run process's
    jp_server_config["MlopsExtension"].update(
        executor="local", dask_scheduler=address, artifacts=str(tmp_path / "shared")
    )
    yield address
    from server_runs_fixtures import kill_leftovers

    kill_leftovers(tmp_path / "store")


async def test_a_run_asks_for_the_configured_cluster_and_fails_clearly_when_it_is_down(
    idle_cluster, jp_fetch, jp_root_dir, tmp_path
):
    from runner_fixtures import code, write_notebook
    from server_runs_fixtures import request, start_run, wait_for

    info = json.loads((await jp_fetch("mlops", "api", "info")).body)
    assert info["executor"]["name"] == "local"
    assert info["cluster"] == {"name": "dask", "scheduler": idle_cluster,
                               "artifacts": str(tmp_path / "shared"), "retries": 1}  # fmt: skip
    write_notebook(jp_root_dir / "two.ipynb", [code("x = 1", "step:a"), code("y = x", "step:b")])
    code_, answer = await request(
        jp_fetch, "mlops", "api", "runs", method="POST",
        body={"path": "two.ipynb", "executor": "ray"},
    )  # fmt: skip
    assert code_ == 400 and "'executor' must be 'local' or 'dask'" in answer["message"]
    record = await start_run(jp_fetch, "two.ipynb", executor="dask")
    done = await wait_for(jp_fetch, record["id"], ("succeeded", "failed"), timeout=60)
    assert done["status"] == "failed"
    assert done["error"].startswith(
        f"the run could not start: cannot reach the Dask scheduler at {idle_cluster} "
        "(no answer within 1 s): start it"
    )
    assert {s["status"] for s in done["steps"].values()} == {"skipped"}
