"""Background runs through the REST API of a real Jupyter server, with a real WebSocket
client on ``/api/events/subscribe``: runs in processes of their own, events in order,
replay, cancel, the queue, authorization."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest
from jupyter_server.auth.authorizer import Authorizer
from server_runs_fixtures import (
    OUTPUT,
    RUN,
    STEP,
    alive,
    events_until_end,
    four_steps,
    kernel_pids,
    kill_leftovers,
    request,
    run_pid,
    start_run,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def store(tmp_path):
    yield tmp_path / "store"
    kill_leftovers(tmp_path / "store")


@pytest.fixture
def notebook(jp_root_dir):
    four_steps(jp_root_dir / "proj" / "pipe.ipynb")
    return "proj/pipe.ipynb"


async def test_run_to_succeeded_with_pushed_events(store, notebook, jp_fetch, jp_ws_fetch):
    ws = await jp_ws_fetch("api", "events", "subscribe")
    record = await start_run(jp_fetch, notebook, parameters={"delay": 0.2})
    assert record["status"] in ("queued", "running")
    assert record["path"] == notebook
    run_id = record["id"]
    events = await events_until_end(ws, run_id)
    ws.close()

    runs = [e["status"] for e in events if e["schema_id"] == RUN]
    assert runs == ["queued", "running", "succeeded"]
    steps = [(e["step"], e["status"]) for e in events if e["schema_id"] == STEP]
    assert steps == [
        (name, status)
        for name in ("load", "prep", "train", "score")
        for status in ("running", "succeeded")
    ]
    output = "".join(e["text"] for e in events if e["schema_id"] == OUTPUT)
    assert "tick 0\ntick 1\ntick 2\n" in output and "c is 4" in output
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e["path"] == notebook for e in events)
    # the load step's output comes before the event that says it finished
    load_done = next(
        i
        for i, e in enumerate(events)
        if e.get("step") == "load" and e.get("status") == "succeeded"
    )
    assert any(e["schema_id"] == OUTPUT and e["step"] == "load" for e in events[:load_done])

    # replay: the same events, in the same shapes; after= skips what the client has
    code, replay = await request(jp_fetch, "mlops", "api", "runs", run_id, "events")
    assert code == 200
    assert replay["events"] == events
    assert replay["last"] == events[-1]["seq"]
    code, later = await request(jp_fetch, "mlops", "api", "runs", run_id, "events", after=3)
    assert [e["seq"] for e in later["events"]] == list(range(4, replay["last"] + 1))
    assert later["last"] == replay["last"]

    # the record, the listing, the executed step notebook
    done = await wait_for(jp_fetch, run_id, ("succeeded",))
    assert {s["status"] for s in done["steps"].values()} == {"succeeded"}
    assert done["published"] is None and done["error"] is None
    code, listing = await request(jp_fetch, "mlops", "api", "runs", path=notebook, limit=5)
    assert [r["id"] for r in listing["runs"]] == [run_id] and listing["next_before"] is None
    code, step_nb = await request(
        jp_fetch, "mlops", "api", "runs", run_id, "steps", "load", "notebook"
    )
    assert code == 200 and step_nb["nbformat"] == 4
    assert any("tick 2" in json.dumps(c.get("outputs", [])) for c in step_nb["cells"])

    # the step log, paged by byte offset
    code, log = await request(jp_fetch, "mlops", "api", "runs", run_id, "steps", "load", "log")
    assert code == 200 and log["text"] == "tick 0\ntick 1\ntick 2\n" and log["complete"]
    assert log["offset"] == len(log["text"].encode())
    code, rest = await request(
        jp_fetch, "mlops", "api", "runs", run_id, "steps", "load", "log", offset=7
    )
    assert rest == {"text": "tick 1\ntick 2\n", "offset": log["offset"], "complete": True}

    # the report: served sandboxed
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await jp_fetch("mlops", "api", "runs", run_id, "report")
            break
        except Exception:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
    csp = [d.strip() for d in response.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in csp and not any("allow-" in d for d in csp)
    assert response.headers["Content-Type"].startswith("text/html")
    assert run_id in response.body.decode()

    # unknown run / step: 404 with a message
    for parts in (
        ("runs", "20990101-000000-000000"),
        ("runs", "20990101-000000-000000", "events"),
        ("runs", run_id, "steps", "nope", "log"),
        ("runs", run_id, "steps", "nope", "notebook"),
    ):
        code, body = await request(jp_fetch, "mlops", "api", *parts)
        assert code == 404 and body["message"], parts
    code, body = await request(jp_fetch, "mlops", "api", "runs", run_id, "cancel", method="POST")
    assert code == 409 and "already ended" in body["message"]


async def test_invalid_requests_create_no_run(store, notebook, jp_fetch, jp_root_dir):
    cases = [
        ({"path": notebook, "parameters": {"delay": "slow"}}, 400, "delay"),
        ({"path": notebook, "parameters": {"nope": 1}}, 400, "nope"),
        ({"path": notebook, "publish": {"require": ["accuracy>>0.9"]}}, 400, "accuracy>>0.9"),
        ({"path": notebook, "publish": {"must_beat": "champion"}}, 400, "champion"),
        ({"path": notebook, "publish": {"name": "bad name"}}, 400, "invalid model name"),
        ({"path": notebook, "publish": {"aliases": ["latest"]}}, 400, "invalid alias"),
        ({"path": notebook, "use_cache": "yes"}, 400, "use_cache"),
        ({"path": "proj/missing.ipynb"}, 404, "no such notebook"),
        ({"parameters": {}}, 400, "path"),
    ]
    for body, status, word in cases:
        code, answer = await request(jp_fetch, "mlops", "api", "runs", method="POST", body=body)
        assert code == status and word in answer["message"], (body, code, answer)
    code, answer = await request(jp_fetch, "mlops", "api", "runs", method="POST", body="{nope")
    assert code == 400 and "not valid JSON" in answer["message"]
    assert answer["reason"] and "\n" not in answer["reason"]
    too_big = json.dumps({"path": notebook, "parameters": {"x": "a" * (21 * 1024 * 1024)}})
    code, answer = await request(jp_fetch, "mlops", "api", "runs", method="POST", body=too_big)
    assert code == 413 and "over the limit" in answer["message"]
    body = {"path": notebook, "what": 1}
    code, answer = await request(jp_fetch, "mlops", "api", "runs", method="POST", body=body)
    assert code == 400 and "'what'" in answer["message"]
    code, listing = await request(jp_fetch, "mlops", "api", "runs")
    assert code == 200 and listing == {"runs": [], "next_before": None}
    assert not (store / "runs").exists() or list((store / "runs").iterdir()) == []
    for params in ({"limit": "x"}, {"status": "done"}, {"limit": "0"}):
        code, answer = await request(jp_fetch, "mlops", "api", "runs", **params)
        assert code == 400, params


@pytest.fixture
def one_at_a_time(jp_server_config):
    jp_server_config["MlopsExtension"]["max_concurrent_runs"] = 1


async def test_queue_and_cancel(one_at_a_time, store, notebook, jp_fetch):
    first = await start_run(jp_fetch, notebook, parameters={"delay": 60})
    second = await start_run(jp_fetch, notebook, parameters={"delay": 0.05})
    third = await start_run(jp_fetch, notebook, parameters={"delay": 0.05})
    assert second["status"] == "queued" and third["status"] == "queued"

    # a queued run is cancelled at once, without ever starting
    code, cancelled = await request(
        jp_fetch, "mlops", "api", "runs", third["id"], "cancel", method="POST"
    )
    assert code == 202 and cancelled["status"] == "cancelled"
    assert {s["status"] for s in cancelled["steps"].values()} == {"skipped"}

    # the running one: its process and kernels stop, it is recorded cancelled
    running = await wait_for(jp_fetch, first["id"], ("running",))
    deadline = time.monotonic() + 60
    while running["steps"]["load"]["status"] != "running" or not kernel_pids(store, first["id"]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
        running = await wait_for(jp_fetch, first["id"], ("running",))
    kernels = kernel_pids(store, first["id"])
    process = run_pid(store, first["id"])
    assert process != os.getpid() and alive(process)
    (await wait_for(jp_fetch, second["id"], ("queued",)))  # still waiting for its slot
    code, answer = await request(
        jp_fetch, "mlops", "api", "runs", first["id"], "cancel", method="POST"
    )
    assert code == 202
    done = await wait_for(jp_fetch, first["id"], ("cancelled",), timeout=30)
    assert done["steps"]["load"]["status"] == "failed"
    assert not {s["status"] for s in done["steps"].values()} & {"running", "pending"}
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in [*kernels, process]):
        assert time.monotonic() < deadline, "kernels or run process still alive"
        await asyncio.sleep(0.1)

    # the slot is free: the queued run starts and finishes
    assert (await wait_for(jp_fetch, second["id"], ("succeeded",)))["status"] == "succeeded"
    code, answer = await request(
        jp_fetch, "mlops", "api", "runs", first["id"], "cancel", method="POST"
    )
    assert code == 409
    code, listing = await request(jp_fetch, "mlops", "api", "runs", status="cancelled")
    assert {r["id"] for r in listing["runs"]} == {first["id"], third["id"]}
    code, page = await request(jp_fetch, "mlops", "api", "runs", limit=2)
    assert [r["id"] for r in page["runs"]] == [third["id"], second["id"]]
    code, rest = await request(
        jp_fetch, "mlops", "api", "runs", limit=2, before=page["next_before"]
    )
    assert [r["id"] for r in rest["runs"]] == [first["id"]] and rest["next_before"] is None


async def test_killed_run_is_interrupted(store, notebook, jp_fetch, jp_ws_fetch):
    ws = await jp_ws_fetch("api", "events", "subscribe")
    record = await start_run(jp_fetch, notebook, parameters={"delay": 60})
    run_id = record["id"]
    deadline = time.monotonic() + 60
    while not kernel_pids(store, run_id):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    os.killpg(run_pid(store, run_id), signal.SIGKILL)
    events = await events_until_end(ws, run_id)
    ws.close()
    assert events[-1]["status"] == "interrupted"
    done = await wait_for(jp_fetch, run_id, ("interrupted",), timeout=10)
    assert done["steps"]["load"]["status"] == "failed"
    assert done["steps"]["score"]["status"] == "skipped"


class ReadOnly(Authorizer):
    """Allows only reading our ``mlops`` resource (everything else as usual)."""

    def is_authorized(self, handler, user, action, resource):
        return resource != "mlops" or action == "read"


@pytest.fixture
def read_only(jp_server_config):
    jp_server_config["ServerApp"]["authorizer_class"] = ReadOnly


async def test_read_only_users_look_but_do_not_run(read_only, store, notebook, jp_fetch):
    from jupyter_mlops.runner.store import Store

    with Store.open(store) as db:  # a run recorded earlier (by someone allowed to run)
        run_id = db.create_run("/x/pipe.ipynb", "0" * 64, {}, ["load"], {})
        db.settle_run(run_id, "failed", "for the test")
        db.release_run(run_id)
    code, body = await request(
        jp_fetch, "mlops", "api", "runs", method="POST", body={"path": notebook}
    )
    assert code == 403
    code, body = await request(jp_fetch, "mlops", "api", "runs", run_id, "cancel", method="POST")
    assert code == 403
    for parts in (("runs",), ("runs", run_id), ("runs", run_id, "events")):
        code, body = await request(jp_fetch, "mlops", "api", *parts)
        assert code == 200, (parts, body)
    code, body = await request(jp_fetch, "mlops", "api", "runs", run_id, "steps", "load", "log")
    assert code == 200 and body == {"text": "", "offset": 0, "complete": True}
    assert not list((store / "runs").iterdir())[1:]  # no run was created by the POST


async def test_loop_stays_responsive_during_a_run(store, notebook, jp_fetch):
    """While a 4-step pipeline runs, a periodic callback fires on time and info answers."""
    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            start = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - start - 0.01)

    task = asyncio.create_task(probe())
    record = await start_run(jp_fetch, notebook, parameters={"delay": 0.3})
    info: list[float] = []
    while True:
        start = time.perf_counter()
        response = await jp_fetch("mlops", "api", "info")
        info.append(time.perf_counter() - start)
        assert response.code == 200
        code, current = await request(jp_fetch, "mlops", "api", "runs", record["id"])
        if current["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert current["status"] == "succeeded"
    lags.sort()
    info.sort()
    p50, p99 = lags[len(lags) // 2], lags[int(len(lags) * 0.99)]
    print(f"loop lag p50 {p50 * 1000:.1f} ms p99 {p99 * 1000:.1f} ms over {len(lags)} samples; "
          f"info p50 {info[len(info) // 2] * 1000:.1f} ms")  # fmt: skip
    assert p99 <= 0.25, f"event loop lag p99 {p99 * 1000:.0f} ms (generous bound)"


def test_loading_the_extension_imports_nothing_heavy() -> None:
    """The extension module (and the run manager it starts) import no mlflow, pandas,
    papermill: they load when a request needs them."""
    import subprocess
    import sys

    from runner_fixtures import cli_env

    heavy = ("mlflow", "pandas", "papermill", "numpy", "nbclient")
    code = (
        "import sys, jupyter_mlops.extension, jupyter_mlops.server.run_manager, "
        "jupyter_mlops.server.event_relay, jupyter_mlops.handlers;"
        "jupyter_mlops.handlers.route_table();"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


async def test_run_with_publish_settings_publishes_when_it_succeeds(store, jp_root_dir, jp_fetch):
    from runner_fixtures import code, write_notebook

    write_notebook(
        jp_root_dir / "model.ipynb",
        [
            code(
                "class Doubler:\n    def predict(self, rows):\n        return [2 * r for r in rows]\n"
                "clf = Doubler()\naccuracy = 0.9",
                "step:train",
                "model:clf",
            ),
            code("accuracy", "metrics"),
        ],
    )
    publish = {"name": "doubler", "aliases": ["staging"], "require": ["accuracy>=0.5"]}
    record = await start_run(jp_fetch, "model.ipynb", publish=publish)
    deadline = time.monotonic() + 180
    while (done := await wait_for(jp_fetch, record["id"], ("succeeded", "failed")))[
        "published"
    ] is None:  # the publish follows the run, in the run's process
        assert time.monotonic() < deadline and done["status"] == "succeeded", done
        await asyncio.sleep(0.2)
    published = done["published"]
    assert (published["name"], published["version"], published["aliases"]) == (
        "doubler",
        1,
        ["staging"],
    ), published
    assert published["checks"]["gates"][0]["passed"] is True
