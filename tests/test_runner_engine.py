"""The warm engine's client handshake (engine.wait_until_ready) against a real kernel: once
it returns, the client's IOPub subscription is live (no output of the next request is
lost), on every new client of the same kernel; a dead kernel is an error, not a hang."""

from __future__ import annotations

import asyncio
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
