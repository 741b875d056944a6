"""Schedules through the REST API of a real Jupyter server: the server fires them (real run
processes and kernels), `jupyter mlops scheduler` racing it on the same store fires no slot
twice, pause and remove stop them, and bad requests are 4xx JSON."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from runner_fixtures import cli_env
from schedule_fixtures import firings, stdlib_notebook
from server_runs_fixtures import request

pytestmark = pytest.mark.slow
API = ("mlops", "api", "schedules")


@pytest.fixture
def jp_server_config(tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MlopsExtension": {"store": str(tmp_path / "store"), "schedule_interval": 0.2},
    }


async def _until(check, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_bad_requests_are_4xx_json(jp_fetch, jp_root_dir) -> None:
    stdlib_notebook(jp_root_dir / "nb.ipynb")
    cases = [
        ({"path": "nb.ipynb", "cron": "0 3 * *"}, 400, "not a valid cron"),
        ({"path": "nb.ipynb", "cron": "0 3 * * *", "timezone": "Nowhere"}, 400, "time zone"),
        ({"path": "nb.ipynb", "cron": "0 3 * * *", "parameters": {"scale": "x"}}, 400, "scale"),
        ({"path": "nb.ipynb", "cron": "0 3 * * *", "catchup": "later"}, 400, "catchup"),
        ({"path": "nb.ipynb", "cron": "0 3 * * *", "publish": {"promote": "latest"}}, 400,
         "invalid alias"),
        ({"path": "nb.ipynb", "cron": "0 3 * * *", "extra": 1}, 400, "unknown field"),
        ({"path": "missing.ipynb", "cron": "0 3 * * *"}, 404, "no such notebook"),
        ({"path": "../x.ipynb", "cron": "0 3 * * *"}, 403, "outside the server root"),
    ]  # fmt: skip
    for body, status, message in cases:
        code, answer = await request(jp_fetch, *API, method="POST", body=body)
        assert code == status and message in answer["message"], (body, code, answer)
    code, answer = await request(jp_fetch, *API, "s-0123")
    assert code == 404 and "no schedule 's-0123'" in answer["message"]
    code, answer = await request(jp_fetch, *API, "preview", method="POST",
                                 body={"cron": "0 3 * * 1", "timezone": "Europe/Paris"})  # fmt: skip
    assert code == 200 and len(answer["next"]) == 3
    assert all(datetime.fromisoformat(t).weekday() == 0 for t in answer["next"])


async def test_the_server_fires_races_a_scheduler_and_stops_when_paused_or_removed(
    jp_fetch, jp_root_dir, tmp_path
) -> None:
    stdlib_notebook(jp_root_dir / "nb.ipynb")
    store = tmp_path / "store"
    code, made = await request(jp_fetch, *API, method="POST", body={
        "path": "nb.ipynb", "cron": "* * * * * */2", "publish": False})  # fmt: skip
    assert code == 201, made
    sid = made["id"]
    assert made["path"] == "nb.ipynb" and len(made["next"]) == 3
    gaps = {datetime.fromisoformat(b) - datetime.fromisoformat(a)
            for a, b in zip(made["next"], made["next"][1:], strict=False)}  # fmt: skip
    assert gaps == {timedelta(seconds=2)}

    async def fired_with_outcome():
        code, record = await request(jp_fetch, *API, sid)
        assert code == 200
        return [f for f in record["firings"] if f["outcome"] and not f["outcome"].get("busy")]

    done = (await _until(fired_with_outcome))[0]
    assert done["fired_by"].startswith("server ") and done["outcome"]["result"] == "succeeded"

    # `jupyter mlops scheduler` on the same store, racing the server for ~6 s
    start = datetime.now().astimezone()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "jupyter_mlops.cli.app", "scheduler", "--store", str(store),
         "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=cli_env(), text=True,
    )  # fmt: skip
    try:
        await asyncio.sleep(6)
    finally:
        code, paused = await request(jp_fetch, *API, sid, "pause", method="POST")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert code == 200 and paused["paused"] and paused["next"] == []
    assert proc.returncode == 0 and "scheduler stopped" in out, out
    rows = firings(store, sid)
    slots = [datetime.fromisoformat(r["slot"].replace("Z", "+00:00")) for r in rows]
    assert len(slots) == len(set(slots))  # recorded once each
    racing = [s for s in slots if s >= start]
    assert len(racing) >= 2
    assert all(b - a == timedelta(seconds=2) for a, b in zip(racing, racing[1:], strict=False)), (
        racing
    )
    assert {r["fired_by"].split()[0] for r in rows} <= {"server", "scheduler"}
    ran = [r for r in rows if r["run_id"]]  # the others: skipped while a run was going
    assert all((r["outcome"] or {}).get("busy") for r in rows if not r["run_id"])
    assert len({r["run_id"] for r in ran}) == len(ran)

    count = len(rows)
    await asyncio.sleep(3)  # paused: nothing fires
    assert len(firings(store, sid)) == count
    code, resumed = await request(jp_fetch, *API, sid, "resume", method="POST")
    assert code == 200 and not resumed["paused"]
    await _until(lambda: _more(store, sid, count), 60)
    code, _ = await request(jp_fetch, *API, sid, method="DELETE")
    assert code == 200
    code, _ = await request(jp_fetch, *API, sid)
    assert code == 404
    await asyncio.sleep(3)  # removed: nothing fires
    assert firings(store, sid) == []
    code, listing = await request(jp_fetch, *API)
    assert code == 200 and listing["schedules"] == []
    await _until(lambda: _settled(store), 180)  # let the runs end before the server stops


async def _more(store, sid, count):
    return len(firings(store, sid)) > count


async def _settled(store):
    from schedule_fixtures import active_runs

    return active_runs(store) == 0
