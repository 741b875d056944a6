"""Helpers for the background-run tests: notebooks, REST calls, the event WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from runner_fixtures import code, write_notebook
from tornado.httpclient import HTTPClientError

RUN = "https://events.jupyter-mlops.org/run/v1"
STEP = "https://events.jupyter-mlops.org/step/v1"
OUTPUT = "https://events.jupyter-mlops.org/output/v1"
ENDED = ("succeeded", "failed", "cancelled", "interrupted")


def four_steps(path: Path) -> Path:
    """A 4-step stdlib pipeline; ``delay`` (parameter) seconds between three printed lines."""
    return write_notebook(
        path,
        [
            code("delay = 0.2", "parameters"),
            code(
                "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n"
                "    time.sleep(delay)\na = 1",
                "step:load",
            ),
            code("b = a + 1", "step:prep"),
            code("c = b * 2\nprint('c is', c)", "step:train"),
            code("d = c + 1", "step:score"),
        ],
    )


async def request(jp_fetch, *parts: str, method: str = "GET", body: Any = None, **params: Any):
    """(status, JSON) of a call; 4xx answers are returned, not raised."""
    kwargs: dict[str, Any] = {"method": method}
    if body is not None:
        kwargs["body"] = body if isinstance(body, str) else json.dumps(body)
    elif method == "POST":
        kwargs["body"] = "{}"
    if params:
        kwargs["params"] = params
    try:
        response = await jp_fetch(*parts, **kwargs)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body or b"{}")
    return response.code, json.loads(response.body) if response.body else None


async def start_run(jp_fetch, path: str, **body: Any) -> dict[str, Any]:
    code_, record = await request(
        jp_fetch, "mlops", "api", "runs", method="POST", body={"path": path, **body}
    )
    assert code_ == 202, record
    return record


async def wait_for(jp_fetch, run_id: str, statuses: tuple[str, ...], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        code_, record = await request(jp_fetch, "mlops", "api", "runs", run_id)
        assert code_ == 200, record
        if record["status"] in statuses:
            return record
        assert time.monotonic() < deadline, f"run {run_id} still {record['status']}"
        await asyncio.sleep(0.1)


async def events_until_end(ws, run_id: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Our events of ``run_id`` from the WebSocket until the run's last state change."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        message = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
        assert message is not None, "the event WebSocket closed"
        event = json.loads(message)
        if event.get("run_id") != run_id:
            continue
        got.append(event)
        if event["schema_id"] == RUN and event["status"] in ENDED:
            return got


def kernel_pids(store: Path, run_id: str) -> list[int]:
    db = sqlite3.connect(store / "runs.db")
    try:
        return [r[0] for r in db.execute("SELECT pid FROM kernels WHERE run_id = ?", (run_id,))]
    finally:
        db.close()


def run_pid(store: Path, run_id: str) -> int | None:
    db = sqlite3.connect(store / "runs.db")
    try:
        row = db.execute("SELECT pid FROM runs WHERE id = ?", (run_id,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_leftovers(store: Path) -> None:
    """Stop every run process and kernel a test left running (runs outlive the server)."""
    if not (store / "runs.db").is_file():
        return
    db = sqlite3.connect(store / "runs.db")
    try:
        pids = [r[0] for r in db.execute("SELECT pid FROM kernels")]
        runs = [
            r[0]
            for r in db.execute(
                "SELECT pid FROM runs WHERE status IN ('queued', 'running') AND pid IS NOT NULL"
                ' AND options LIKE \'%"origin": "server"%\''
            )
        ]
    finally:
        db.close()
    for pid in runs:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
