"""Benchmark the server extension: event-loop lag, response times, load cost, event latency.

A real Jupyter server runs in this process (so its event loop can be probed), with the
extension and a store in a temporary folder. Prints:

- the loop's lag (how late a 10 ms sleep wakes up) while a 4-step pipeline runs (goal: p99
  ≤ 50 ms) and while a model is published through ``POST /mlops/api/models`` (which
  publishes in a child process: MLflow's imports would hold the GIL here),
- ``GET /mlops/api/info`` p50/p99 (goal: median ≤ 20 ms),
- ``GET /mlops/api/runs`` over a store of 1,000 runs (goal ≤ 50 ms; a 50-run page and all),
- the event latency: a step finishes in the run process -> the event reaches a client of
  ``/api/events/subscribe`` (goal ≤ 300 ms), from the event's own time stamp,
- the extension's load cost: import time of ``jupyter_mlops.extension`` after jupyter_server
  (fresh processes), and the start time of ``jupyter server`` with and without it.

Usage: ``python benchmarks/bench_server.py [--runs N] [--skip-start]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # installed packages have bytecode; measure with it
sys.path[:0] = [str(REPO), str(REPO / "tests")]
TOKEN = "bench-token"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def ms(value: float) -> str:
    return f"{value * 1000:7.1f} ms"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LagProbe:
    """How late a 10 ms ``asyncio.sleep`` wakes up, sampled until stopped."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            start = loop.time()
            await asyncio.sleep(0.01)
            self.lags.append(loop.time() - start - 0.01)

    def __enter__(self) -> LagProbe:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def line(self, what: str) -> str:
        return (
            f"{what:<34} p50 {ms(pct(self.lags, 0.5))}  p99 {ms(pct(self.lags, 0.99))}  "
            f"max {ms(max(self.lags, default=0))}  ({len(self.lags)} samples)"
        )


async def main(args: argparse.Namespace) -> None:
    from jupyter_server.serverapp import ServerApp
    from runner_fixtures import write_notebook
    from server_runs_fixtures import RUN, STEP, four_steps
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    root, store = tmp / "root", tmp / "store"
    root.mkdir()
    four_steps(root / "pipe.ipynb")
    port = free_port()
    os.environ.update(JUPYTER_CONFIG_DIR=str(tmp / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp / "rt"),
                      JUPYTER_DATA_DIR=str(tmp / "data"))  # fmt: skip
    app = ServerApp()
    app.initialize(argv=[
        f"--port={port}", "--ServerApp.ip=127.0.0.1", "--no-browser", "--allow-root",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
        f"--MlopsExtension.store={store}",
        "--ServerApp.jpserver_extensions=jupyter_mlops=True",
        "--ServerApp.log_level=WARN",
    ])  # fmt: skip
    app.start_app()
    ext = app.extension_manager.extension_apps["jupyter_mlops"]
    ext = next(iter(ext))
    client = AsyncHTTPClient()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {TOKEN}"}

    async def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = HTTPRequest(base + path, method=method, headers=headers, request_timeout=600,
                              body=json.dumps(body) if body is not None else None)  # fmt: skip
        response = await client.fetch(request, raise_error=False)
        return response.code, json.loads(response.body or b"{}")

    async def timed(path: str, n: int) -> list[float]:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            code, _ = await call("GET", path)
            times.append(time.perf_counter() - start)
            assert code == 200, (path, code)
        return times

    print(f"server on port {port}, store {store}")
    idle = await timed("/mlops/api/info", 200)
    print(f"{'GET /mlops/api/info (idle)':<34} p50 {ms(pct(idle, 0.5))}  p99 {ms(pct(idle, 0.99))}")

    # -- a run: lag, info, event latency ------------------------------------------------------
    ws = await websocket_connect(
        HTTPRequest(f"ws://127.0.0.1:{port}/api/events/subscribe", headers=headers)
    )
    latencies: list[float] = []
    info_busy: list[float] = []
    with LagProbe() as probe:
        for _ in range(args.runs):
            code, record = await call("POST", "/mlops/api/runs",
                                      {"path": "pipe.ipynb", "parameters": {"delay": 0.2},
                                       "use_cache": False})  # fmt: skip
            assert code == 202, record
            run_id = record["id"]
            reader = asyncio.ensure_future(_read_until_end(ws, run_id, RUN, STEP, latencies))
            while not reader.done():
                info_busy += await timed("/mlops/api/info", 1)
                await asyncio.sleep(0.02)
            await reader
    print(probe.line(f"loop lag during {args.runs} run(s)"))
    print(f"{'GET /mlops/api/info (during runs)':<34} p50 {ms(pct(info_busy, 0.5))}  "
          f"p99 {ms(pct(info_busy, 0.99))}")  # fmt: skip
    print(f"{'event latency (step end -> client)':<34} p50 {ms(pct(latencies, 0.5))}  "
          f"max {ms(max(latencies))}  ({len(latencies)} step events)")  # fmt: skip
    ws.close()

    # -- a publish through the REST route (in a child process) ------------------------------------------------
    try:
        import registry_fixtures as rf

        clf, example = rf.iris()
        published = rf.make_record(store, clf, example, {"accuracy": 0.95},
                                   notebook=write_notebook(root / "train.ipynb", []))  # fmt: skip
        with LagProbe() as probe:
            start = time.perf_counter()
            code, answer = await call(
                "POST", "/mlops/api/models", {"run_id": published["id"], "name": "bench-model"}
            )
            took = time.perf_counter() - start
        assert code == 201, answer
        print(probe.line(f"loop lag during a publish ({took:.1f} s)"))
    except ImportError as exc:
        print(f"publish row skipped: {exc}")

    # -- GET runs over 1,000 runs -------------------------------------------------------------
    from jupyter_mlops.runner.store import Store

    with Store.open(store) as db:
        have = len(db.list_runs(limit=5000))
        for i in range(have, 1000):
            run_id = db.create_run(str(root / "pipe.ipynb"), "0" * 64, {"delay": i},
                                   ["load", "prep", "train", "score"], {})  # fmt: skip
            db.settle_run(run_id, "failed", "bench")
            db.release_run(run_id)
    page = await timed("/mlops/api/runs", 50)
    print(f"{'GET /mlops/api/runs (1,000; 50/page)':<34} p50 {ms(pct(page, 0.5))}  "
          f"p99 {ms(pct(page, 0.99))}")  # fmt: skip
    everything = await timed("/mlops/api/runs?limit=1000", 10)
    print(f"{'GET /mlops/api/runs?limit=1000':<34} p50 {ms(pct(everything, 0.5))}  "
          f"p99 {ms(pct(everything, 0.99))}")  # fmt: skip
    await app._cleanup()
    from server_runs_fixtures import kill_leftovers

    kill_leftovers(store)


async def _read_until_end(ws, run_id: str, run_schema: str, step_schema: str, out: list) -> None:
    while True:
        message = await ws.read_message()
        received = time.time()
        event = json.loads(message)
        if event.get("run_id") != run_id:
            continue
        if event["schema_id"] == step_schema and event["status"] == "succeeded":
            sent = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
            out.append(received - sent)
        if event["schema_id"] == run_schema and event["status"] not in ("queued", "running"):
            return


def load_cost(repeat: int) -> None:
    """Import cost of the extension module after jupyter_server, in fresh processes."""
    code = (
        "import time, jupyter_server.serverapp, jupyter_server.extension.application;"
        "t = time.perf_counter(); import jupyter_mlops.extension, jupyter_mlops.handlers;"
        "jupyter_mlops.handlers.route_table(); print(time.perf_counter() - t)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
            ).stdout
        )  # fmt: skip
        for _ in range(repeat)
    ]
    print(f"{'import jupyter_mlops.extension':<34} median {ms(statistics.median(times))}")


def start_cost(repeat: int) -> None:
    """``jupyter server`` start (until /api/status answers) with and without the extension."""
    import urllib.request

    def once(enabled: bool) -> float:
        tmp = Path(tempfile.mkdtemp(prefix="bench-start-"))
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO), "JUPYTER_CONFIG_DIR": str(tmp / "cfg"),
               "JUPYTER_RUNTIME_DIR": str(tmp / "rt"), "JUPYTER_DATA_DIR": str(tmp / "d")}  # fmt: skip
        extensions = "--ServerApp.jpserver_extensions=jupyter_mlops=" + str(enabled)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", f"--port={port}", "--no-browser",
             "--allow-root", f"--IdentityProvider.token={TOKEN}", extensions,
             f"--MlopsExtension.store={tmp / 'store'}", f"--ServerApp.root_dir={tmp}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        try:
            while True:
                try:
                    url = f"http://127.0.0.1:{port}/api/status?token={TOKEN}"
                    with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                        return time.perf_counter() - start
                except OSError:
                    time.sleep(0.02)
        finally:
            proc.terminate()
            proc.wait()

    with_ext = [once(True) for _ in range(repeat)]
    without = [once(False) for _ in range(repeat)]
    print(f"{'jupyter server start, with':<34} median {ms(statistics.median(with_ext))}")
    print(f"{'jupyter server start, without':<34} median {ms(statistics.median(without))}")
    print(f"{'extension load cost (difference)':<34} median "
          f"{ms(statistics.median(with_ext) - statistics.median(without))}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="pipeline runs to measure during")
    parser.add_argument("--skip-start", action="store_true", help="skip the server start timing")
    args = parser.parse_args()
    asyncio.run(main(args))
    load_cost(5)
    if not args.skip_start:
        start_cost(3)
