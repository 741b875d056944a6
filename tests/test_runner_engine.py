"""The warm engine's client handshake (engine.wait_until_ready) against a real kernel: once
it returns, the client's IOPub subscription is live (no output of the next request is
lost), on every new client of the same kernel; a dead kernel is an error, not a hang."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from jupyter_mlops.runner.engine import wait_until_ready

pytestmark = pytest.mark.slow


async def _outputs(kc, msg_id: str) -> str:
    text = ""
    while True:
        msg = await kc.iopub_channel.get_msg(timeout=10)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return text


async def _scenario() -> None:
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="python3")
    await km.start_kernel()
    try:
        for i in range(12):  # a fresh client per step, as the runner makes them
            kc = km.client()
            kc.start_channels()
            try:
                await wait_until_ready(kc, timeout=30)
                msg_id = kc.execute(f"print({i} * 2)")
                assert await _outputs(kc, msg_id) == f"{i * 2}\n"
            finally:
                kc.stop_channels()
        kc = km.client()
        kc.start_channels()
        await km.shutdown_kernel(now=True)
        started = time.monotonic()
        with pytest.raises(RuntimeError):
            await wait_until_ready(kc, timeout=3)
        assert time.monotonic() - started < 20
        kc.stop_channels()
    finally:
        if await km.is_alive():
            await km.shutdown_kernel(now=True)


def test_every_new_client_sees_all_output_of_its_first_request():
    asyncio.run(_scenario())


def test_steps_run_in_process_leave_valid_notebooks_and_no_exit_handlers(tmp_path):
    """The runner builds and writes step notebooks without nbformat's validation (it costs
    more than a trivial step): what it writes must still be valid nbformat, with papermill's
    metadata and the kernel's language_info. nbclient registers an exit handler per
    execution holding its client and notebook; a long pipeline run in one process (the
    server's run processes, the Python API) must not accumulate one per step."""
    import atexit
    import json

    import nbformat
    from runner_fixtures import code, write_notebook

    from jupyter_mlops.runner import run_pipeline

    cells = [code("x0 = 1", "parameters")]
    cells += [code(f"x{i} = x{i - 1} + 1", f"step:s{i}") for i in range(1, 7)]
    nb = write_notebook(tmp_path / "chain.ipynb", cells)
    before = atexit._ncallbacks()
    run = run_pipeline(nb, store=tmp_path / "store", jobs=1, report="none")
    assert run.record["status"] == "succeeded", run.record
    assert atexit._ncallbacks() - before < 3  # not one per step (6)
    for name, step in run.record["steps"].items():
        executed = nbformat.read(step["notebook"], as_version=4)
        nbformat.validate(executed)  # raises on an invalid notebook
        assert executed.metadata.language_info["name"] == "python"
        assert "version" in executed.metadata.papermill
        assert all("papermill" in c.metadata for c in executed.cells), name
        ids = [c.id for c in executed.cells]
        assert len(set(ids)) == len(ids)
    last = json.loads(Path(run.record["steps"]["s6"]["notebook"]).read_text())
    assert any("x6 = x5 + 1" in "".join(c["source"]) for c in last["cells"])


def _plan(pipeline, name, **overrides):
    from jupyter_mlops.runner.stepnb import StepPlan

    fields = dict(step=pipeline.step(name), parameters={}, inputs={}, outputs=[],
                  consumers={}, metrics=[], example=None, environment=False,
                  artifacts="", manifest="")  # fmt: skip
    fields.update(overrides)
    return StepPlan(**fields)


def _run_in_a_kernel(step_nb, tmp_path):
    """Execute a step notebook in a new kernel slot (shut down after); its StepError."""
    from jupyter_mlops.runner.execute import execute_step_notebook
    from jupyter_mlops.runner.kernels import KernelSlot

    slot = KernelSlot(0, "python3", str(tmp_path), tmp_path / "k.log", str(tmp_path / "k"))
    try:
        return execute_step_notebook(slot, step_nb, tmp_path / "a.ipynb", tmp_path / "a.log",
                                     60, threading.Event())  # fmt: skip
    finally:
        slot.shutdown()


def test_generated_code_run_back_to_back_shares_one_cell(tmp_path):
    """A cell is a round trip to the kernel: a step with no parameters or setup cells runs
    in three cells (prelude + reads + inputs, the step's code, outputs), and an input that
    fails to load is still reported as the inputs' failure, not the prelude's."""
    from runner_fixtures import code, run_json, write_notebook

    nb = write_notebook(
        tmp_path / "p.ipynb",
        [
            code("data = {'xs': list(range(500))}", "step:a"),
            code("total = sum(data['xs'])", "step:b"),
            code("total", "metrics"),
        ],
    )
    store = tmp_path / "s"
    rc, first, err = run_json(str(nb), "--store", str(store))
    assert rc == 0, err
    executed = json.loads(Path(first["steps"]["b"]["notebook"]).read_text())
    roles = [c["metadata"]["mlops"].get("generated") for c in executed["cells"]]
    assert roles == ["inputs", None, "outputs"]
    assert executed["cells"][0]["metadata"]["mlops"]["parts"] == ["prelude", "reads", "inputs"]
    digest = first["steps"]["a"]["outputs"]["data"]
    artifact = store / "artifacts" / digest[:2] / digest
    payload = bytearray(artifact.read_bytes())
    payload[-20:-12] = b"\x00" * 8  # an edited pickle, same size: a cache hit for 'a'
    artifact.write_bytes(bytes(payload))
    rc, bad, _ = run_json(str(nb), "--store", str(store), "--refresh", "b")
    assert rc == 1
    error = bad["steps"]["b"]["error"]
    assert (error["cell"], error["ename"], error["generated"]) == (
        None, "CorruptArtifact", "inputs")  # fmt: skip


def test_a_failure_in_a_merged_cell_names_the_part_that_failed(tmp_path):
    """The traceback's marked line says which part of a merged generated cell failed (here
    the reads recorder, given a folder that is not a path), in a real kernel."""
    from runner_fixtures import code, write_notebook

    from jupyter_mlops.compiler import compile_notebook
    from jupyter_mlops.runner.stepnb import build_step_notebook

    nb = write_notebook(tmp_path / "p.ipynb", [code("y = 1", "step:a")])
    pipeline = compile_notebook(str(nb))
    plan = _plan(pipeline, "a", watch=(12345, [], []), outputs=["y"],
                 artifacts=str(tmp_path / "art"), manifest=str(tmp_path / "m.json"))  # fmt: skip
    step_nb = build_step_notebook(pipeline, plan)
    assert step_nb.cells[0].metadata.mlops.parts == ["prelude", "reads", "inputs"]
    error = _run_in_a_kernel(step_nb, tmp_path)
    assert error is not None and error.ename == "TypeError"
    assert (error.cell, error.generated) == (None, "reads")


def test_a_kernel_keeps_one_client_for_its_steps_and_no_history(tmp_path, monkeypatch):
    """A slot's client (channels, readiness check) is made once per kernel, not per step:
    six steps in one kernel check readiness once. Step kernels keep no IPython history (the
    user's history file would fill with generated cells) and do not sleep before each
    execute reply; output printed at the very end of a cell still reaches the notebook."""
    from runner_fixtures import code, write_notebook

    from jupyter_mlops.runner import engine, run_pipeline

    checks = []
    real = engine.wait_until_ready

    async def counted(kc, timeout):
        checks.append(kc)
        return await real(kc, timeout)

    monkeypatch.setattr(engine, "wait_until_ready", counted)
    cells = [code("x0 = 1", "parameters")]
    cells += [code(f"x{i} = x{i - 1} + 1", f"step:s{i}") for i in range(1, 6)]
    cells.append(code("history = int(get_ipython().history_manager.enabled)", "step:s6"))
    cells.append(code("reply_sleep = get_ipython().kernel._execute_sleep", "step:s7"))
    cells.append(code("for i in range(3000):\n    print('line', i)\nprint('the end')", "step:s8"))
    cells.append(code("x5\nhistory\nreply_sleep", "metrics"))
    nb = write_notebook(tmp_path / "chain.ipynb", cells)
    run = run_pipeline(nb, store=tmp_path / "store", jobs=1, report="none")
    assert run.record["status"] == "succeeded", run.record
    assert run.record["metrics"] == {"x5": 6, "history": 0, "reply_sleep": 0.0}
    assert len(checks) == 1  # jobs=1: one kernel
    executed = json.loads((run.store / "runs" / run.id / "s8.ipynb").read_text())
    printed = "".join(
        "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])
    )
    assert printed.endswith("line 2999\nthe end\n")


def test_generated_cells_carry_any_path_as_data(tmp_path):
    """Generated cells pass their arguments as JSON in one string literal (IPython tokenizes
    Python literals slowly): a folder name with quotes, three in a row, a backslash and
    non-ASCII letters still arrives exactly, in a real kernel."""
    from runner_fixtures import code, write_notebook

    from jupyter_mlops.compiler import compile_notebook
    from jupyter_mlops.runner.stepnb import build_step_notebook

    odd = tmp_path / "it's a '''quoted''' \\ fólder"
    odd.mkdir()
    nb = write_notebook(tmp_path / "p.ipynb", [code("y = 41 + 1", "step:a")])
    pipeline = compile_notebook(str(nb))
    plan = _plan(pipeline, "a", watch=(str(odd), [str(odd)], []), outputs=["y"],
                 artifacts=str(odd / "art"), manifest=str(odd / "m.json"))  # fmt: skip
    step_nb = build_step_notebook(pipeline, plan)
    assert "quoted" in step_nb.cells[-1].source and "r'''" not in step_nb.cells[-1].source
    error = _run_in_a_kernel(step_nb, tmp_path)
    assert error is None
    manifest = json.loads((odd / "m.json").read_text())
    assert Path(manifest["outputs"]["y"]["path"]).parent.parent == odd / "art"


def test_a_kernel_killed_by_a_cell_sent_ahead_is_blamed_on_that_cell(tmp_path):
    """Each cell's execute request is sent as soon as the cell before it is answered, so a
    kernel that dies at once in a cell may take the "idle" of the cell before along, and
    nbclient then reports the death on that earlier cell. The cell whose request was never
    answered is the one named and marked. Made certain here: the first cell stops the kernel
    from publishing its status (its own "idle" never leaves), the second ends the process."""
    from runner_fixtures import code, run_json, write_notebook

    stall = "get_ipython().kernel._publish_status = lambda *args, **kwargs: None"
    nb = write_notebook(
        tmp_path / "p.ipynb",
        [code("x = 1", "step:a"), code(stall, "step:b"), code("import os\nos._exit(1)")],
    )
    rc, record, err = run_json(str(nb), "--store", str(tmp_path / "s"))
    assert rc == 1, err
    error = record["steps"]["b"]["error"]
    assert (error["cell"], error["ename"], error["generated"]) == (2, "DeadKernelError", None)
    executed = json.loads(Path(record["steps"]["b"]["notebook"]).read_text())
    failed = [c for c in executed["cells"] if c["metadata"]["papermill"]["status"] == "failed"]
    assert [c["metadata"]["mlops"]["source_cell"] for c in failed] == [2]


def test_cells_are_sent_ahead_and_a_failure_stops_the_queue(tmp_path):
    """The next cell's request leaves as soon as the current cell is answered, before
    nbclient is done with that cell (its last output, its "idle"). A cell that fails is
    followed by no request: the step's outputs are not saved, and the next step runs in
    the same kernel as usual."""
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from nbclient import NotebookClient
    from runner_fixtures import code, write_notebook

    from jupyter_mlops.runner import run_pipeline

    events: list[tuple[str, str]] = []
    send, poll = AsyncKernelClient.execute, NotebookClient._async_poll_for_reply

    def sending(self, code, *args, **kwargs):
        msg_id = send(self, code, *args, **kwargs)
        events.append(("sent", msg_id))
        return msg_id

    async def replied(self, msg_id, *args, **kwargs):
        reply = await poll(self, msg_id, *args, **kwargs)
        events.append(("replied", msg_id))
        return reply

    nb = write_notebook(
        tmp_path / "p.ipynb",
        [
            code("import time\ntime.sleep(0.3)\nx = 1", "step:a"),
            code("y = 2\nraise ValueError('no')", "step:b"),
            code("z = 3", "step:c"),
        ],
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(AsyncKernelClient, "execute", sending)
        mp.setattr(NotebookClient, "_async_poll_for_reply", replied)
        run = run_pipeline(nb, store=tmp_path / "s", jobs=1, report="none")
    record = run.to_dict()
    assert {n: s["status"] for n, s in record["steps"].items()} == {
        "a": "succeeded", "b": "failed", "c": "succeeded"}  # fmt: skip
    assert record["steps"]["b"]["error"]["ename"] == "ValueError"
    run_dir = tmp_path / "s" / "runs" / run.id
    assert not (run_dir / "b.manifest.json").exists()
    # step a: the second request (the sleeping cell) left before the first one's reply came
    sent = [m for kind, m in events if kind == "sent"]
    assert events.index(("sent", sent[1])) < events.index(("replied", sent[0]))
