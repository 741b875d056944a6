"""Runs outlive the server: stop a real ``jupyter server`` (a subprocess) while a run is
going, start another on the same store; the run is found, finishes, and its events reach a
client of the new server; the run queued behind it starts there."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_fixtures import REPO
from server_runs_fixtures import RUN, STEP, events_until_end, four_steps, kill_leftovers
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

pytestmark = pytest.mark.slow
TOKEN = "restart-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``jupyter server`` with our extension, in a subprocess with its own config dirs."""

    def __init__(self, tmp: Path, root: Path, store: Path, name: str) -> None:
        self.port = free_port()
        config = tmp / "config"
        config.mkdir(exist_ok=True)
        (config / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {  # only ours: a quicker start
                            "jupyter_mlops": True,
                            "jupyterlab": False,
                            "jupyter_lsp": False,
                            "notebook_shim": False,
                            "jupyter_server_terminals": False,
                        }  # fmt: skip
                    },
                    "MlopsExtension": {"store": str(store), "max_concurrent_runs": 1},
                }
            )
        )
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_DATA_DIR=str(tmp / "data"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
            JUPYTER_PLATFORM_DIRS="1",
        )
        self.log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", f"--port={self.port}", "--no-browser",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
             f"--ServerApp.root_dir={root}", "--ServerApp.ip=127.0.0.1", "--allow-root"],
            stdout=self.log, stderr=self.log, env=env, cwd=str(root),
        )  # fmt: skip
        self.client = AsyncHTTPClient()

    def url(self, *parts: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/" + "/".join(parts)

    async def call(self, method: str, *parts: str, body: dict | None = None) -> tuple[int, dict]:
        request = HTTPRequest(
            self.url(*parts), method=method, headers={"Authorization": f"token {TOKEN}"},
            body=json.dumps(body) if body is not None else None, request_timeout=60,
        )  # fmt: skip
        response = await self.client.fetch(request, raise_error=False)
        return response.code, json.loads(response.body or b"{}")

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, "the server exited"
            try:
                code, _ = await self.call("GET", "mlops", "api", "info")
                if code == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            await asyncio.sleep(0.2)

    async def subscribe(self):
        request = HTTPRequest(
            self.url("api", "events", "subscribe", scheme="ws"),
            headers={"Authorization": f"token {TOKEN}"},
        )
        return await websocket_connect(request)

    async def status(self, run_id: str) -> str:
        code, record = await self.call("GET", "mlops", "api", "runs", run_id)
        assert code == 200, record
        return record["status"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def servers(tmp_path):
    started: list[Server] = []
    root = tmp_path / "root"
    root.mkdir()
    four_steps(root / "pipe.ipynb")

    def start(name: str) -> Server:
        server = Server(tmp_path, root, tmp_path / "store", name)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    kill_leftovers(tmp_path / "store")


async def wait_status(server: Server, run_id: str, wanted: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (status := await server.status(run_id)) != wanted:
        assert time.monotonic() < deadline, f"{run_id}: {status}, expected {wanted}"
        await asyncio.sleep(0.1)


async def test_runs_survive_a_server_restart(servers):
    first = servers("first")
    await first.ready()
    code, running = await first.call(
        "POST", "mlops", "api", "runs", body={"path": "pipe.ipynb", "parameters": {"delay": 5}}
    )
    assert code == 202, running
    code, waiting = await first.call(
        "POST", "mlops", "api", "runs", body={"path": "pipe.ipynb", "parameters": {"delay": 0.01}}
    )
    assert code == 202 and waiting["status"] == "queued"
    await wait_status(first, running["id"], "running")
    first.stop()

    second = servers("second")
    await second.ready()
    ws = await second.subscribe()
    assert await second.status(running["id"]) == "running"  # found again, not interrupted
    events = await events_until_end(ws, running["id"])
    assert events[-1]["schema_id"] == RUN and events[-1]["status"] == "succeeded"
    assert ("score", "succeeded") in [
        (e["step"], e["status"]) for e in events if e["schema_id"] == STEP
    ]
    # the run queued under the first server starts under the second one, and finishes
    later = await events_until_end(ws, waiting["id"])
    assert [e["status"] for e in later if e["schema_id"] == RUN] == ["running", "succeeded"]
    ws.close()
    code, replay = await second.call("GET", "mlops", "api", "runs", waiting["id"], "events")
    assert [e["status"] for e in replay["events"] if e["schema_id"] == RUN] == [
        "queued", "running", "succeeded",
    ]  # fmt: skip
