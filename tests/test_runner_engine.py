"""The warm engine's client handshake (engine.wait_until_ready) against a real kernel: once
it returns, the client's IOPub subscription is live (no output of the next request is
lost), on every new client of the same kernel; a dead kernel is an error, not a hang."""

from __future__ import annotations

import asyncio
import time

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
