"""A papermill engine that executes a notebook in an already running kernel.

papermill's default engine starts and stops a kernel per notebook; this one takes the
kernel manager of a :class:`~jupyter_mlops.runner.kernels.KernelSlot` (``km=``) and leaves
the kernel running for the next step. With ``reuse_client=`` (the slot's ``client`` dict)
the kernel client, its channels and the kernel info of the readiness check are kept for the
slot's next step (the slot runs its steps in one thread, whose event loop the client's
sockets belong to); a step that ends with a dead kernel, a timeout or a cancellation drops
it.
"""

from __future__ import annotations

import atexit
import logging
import time
from dataclasses import dataclass
from queue import Empty
from typing import Any

from jupyter_core.utils import ensure_async
from nbclient.util import run_hook, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

ENGINE_NAME = "jupyter-mlops-warm"

# nbclient logs kernel deaths itself; the runner reports them as step errors instead.
_quiet = logging.getLogger("jupyter_mlops.nbclient")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


async def wait_until_ready(kc: Any, timeout: float) -> Any:
    """Like ``KernelClient.wait_for_ready``, without its 0.2 s of IOPub silence per call.

    A kernel_info request is answered on the shell channel; the kernel then reports "idle"
    for that very request on IOPub. Once that idle arrived, this client's IOPub subscription
    is live and everything the kernel published for the request has been read, so later
    messages belong to later requests. If the idle never comes (the subscription joined
    late and missed it), ask again. Returns the kernel_info reply."""
    deadline = time.monotonic() + timeout
    while True:
        msg_id = kc.kernel_info()
        reply = await _message(kc.shell_channel, msg_id, "kernel_info_reply", 1.0)
        if reply is not None:
            kc._handle_kernel_info_reply(reply)
            if await _message(kc.iopub_channel, msg_id, "status", 0.5, state="idle"):
                return reply
        if not await ensure_async(kc.is_alive()):
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


async def _message(channel: Any, parent: str, kind: str, wait: float, state: str = "") -> Any:
    """The first message of type ``kind`` answering ``parent`` (None after ``wait`` s)."""
    until = time.monotonic() + wait
    while (left := until - time.monotonic()) > 0:
        try:
            msg = await ensure_async(channel.get_msg(timeout=left))
        except Empty:
            return None
        if msg["msg_type"] != kind or msg["parent_header"].get("msg_id") != parent:
            continue
        if state and msg["content"].get("execution_state") != state:
            continue
        return msg
    return None


class WarmKernelClient(PapermillNotebookClient):
    """papermill's client on a running kernel, with what a step does not need left out: no
    fixed 0.2 s wait for IOPub, only the shell and IOPub channels (no heartbeat thread: a
    client made by the kernel manager asks the manager whether the kernel lives) on the
    manager's zmq context, and no second kernel_info request after the cells (the reply to
    the readiness check already holds the language info)."""

    _info: Any = None
    reuse: dict[str, Any] | None = None  # a slot's client, kept from step to step
    running: int | None = None  # after a failure (e.g. a dead kernel): the cell that ran

    async def async_start_new_kernel_client(self) -> Any:
        kept = self.reuse if self.reuse is not None else {}
        if kept.get("km") is self.km and kept.get("kc") is not None:
            # the slot's client of the previous step: its IOPub subscription is live, and
            # replies and output of earlier requests are told apart by their parent id
            self.kc, self._info = kept["kc"], kept["info"]
        else:
            forget_client(kept)
            # the kernel manager's zmq context: no context made and terminated per step
            self.kc = self.km.client(context=self.km.context)
            await ensure_async(self.kc.start_channels(stdin=False, hb=False, control=False))
            try:
                self._info = await wait_until_ready(self.kc, self.startup_timeout)
            except Exception:
                await self._async_cleanup_kernel()
                raise
            if self.reuse is not None:
                self.reuse.update(km=self.km, kc=self.kc, info=self._info)
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return self.kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def execute(self, **kwargs: Any) -> Any:
        """``PapermillNotebookClient.execute``, minus the second kernel_info round trip, and
        with each cell's execute request sent as soon as the cell before it is answered
        (:class:`SendAhead`)."""
        self.reset_execution_trackers()
        try:
            with self.setup_kernel(**kwargs):
                self.log.info(f"Executing notebook with kernel: {self.kernel_name}")
                kc, self.kc = self.kc, SendAhead(self.kc, self._requests())
                try:
                    self.papermill_execute_cells()
                except BaseException:
                    self.running = self.kc.running()
                    raise
                finally:
                    self.kc = kc
                self.nb.metadata["language_info"] = self._info["content"]["language_info"]
                self.set_widgets_metadata()
        finally:
            # nbclient registers a cleanup per execution; on a warm kernel it would keep
            # every step's client (and notebook) alive until the process exits
            atexit.unregister(self._cleanup_kernel)
        return self.nb

    def _requests(self) -> list[Request]:
        """The execute requests nbclient will make for this notebook, in order (its rules:
        code cells with a source, not tagged to be skipped; a cell that may raise does not
        stop the queue)."""
        requests = []
        for index, cell in enumerate(self.nb.cells):
            tags = cell.metadata.get("tags", [])
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if self.skip_cells_with_tag in tags:
                continue
            allows = not self.force_raise_errors and (
                self.allow_errors or "raises-exception" in tags
            )
            requests.append(Request(index, cell.source, not allows))
        return requests


@dataclass(frozen=True)
class Request:
    """One execute request nbclient makes for a notebook."""

    cell: int  # index in the notebook
    source: str
    stop_on_error: bool


class SendAhead:
    """The kernel client as nbclient uses it, except that the next cell's execute request
    is sent as soon as the current cell's execute reply arrives, before nbclient has read
    the cell's last output and its "idle" (≈ 2 ms per cell with ipykernel 7).

    Nothing else changes: the kernel executes requests one at a time, in order, and
    nbclient tells their replies and output apart by parent id. The next request is sent
    only if nbclient will go on after this reply (the cell succeeded, or may raise), so a
    failed cell is never followed by another; and there is never more than one request
    unanswered, so a kernel that dies is known to have died in that one (:meth:`running`),
    even if it took the previous cell's "idle" with it. A request that does not match the
    plan is sent as asked, and nothing is sent ahead any more.

    Left as it is: if nbclient gives up on a cell whose reply said "ok" (its "idle" does not
    come within ``iopub_timeout``, or its output cannot be processed), the request already
    sent for the next cell still runs in the kernel, although the executed notebook shows
    that cell as not run; the step fails either way."""

    def __init__(self, kc: Any, requests: list[Request]) -> None:
        self._kc = kc
        self._requests = requests
        self._count = 0  # requests nbclient made so far
        self._planned = True
        self._waiting: tuple[int, str] | None = None  # (plan index, msg_id) to be answered
        self._ahead: str | None = None  # msg_id of the request sent for the next one
        self._history = True  # nbclient's store_history, for the requests sent ahead
        self._unanswered: dict[str, int | None] = {}  # msg_id -> notebook cell
        self.shell_channel = _Replies(kc.shell_channel, self._replied)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kc, name)

    def execute(self, code: str, **kwargs: Any) -> str:
        index, self._count = self._count, self._count + 1
        ahead, self._ahead = self._ahead, None
        if not self._planned or not self._follows_plan(index, code, kwargs):
            self._planned = False  # off the plan: from now on, requests go as asked
            return self._send(None, code, **kwargs)
        msg_id = (
            ahead if ahead is not None else self._send(self._requests[index].cell, code, **kwargs)
        )
        self._waiting = (index, msg_id)
        self._history = kwargs.get("store_history", True)
        return msg_id

    def running(self) -> int | None:
        """The notebook cell whose request was sent but never answered (None: unknown)."""
        return next(iter(self._unanswered.values()), None)

    def _replied(self, msg: dict[str, Any]) -> None:
        """A message from the shell channel: if it answers the planned request nbclient
        waits for and nbclient will go on, send the next one."""
        msg_id = msg.get("parent_header", {}).get("msg_id")
        self._unanswered.pop(msg_id, None)
        if self._waiting is None or self._waiting[1] != msg_id:
            return
        index, _ = self._waiting
        self._waiting = None
        status = msg.get("content", {}).get("status")
        goes_on = status == "ok" or (status == "error" and not self._requests[index].stop_on_error)
        if self._planned and goes_on and index + 1 < len(self._requests):
            after = self._requests[index + 1]
            self._ahead = self._send(after.cell, after.source, store_history=self._history,
                                     stop_on_error=after.stop_on_error)  # fmt: skip

    def _send(self, cell: int | None, code: str, **kwargs: Any) -> str:
        msg_id = self._kc.execute(code, **kwargs)
        self._unanswered[msg_id] = cell
        return msg_id

    def _follows_plan(self, index: int, code: str, kwargs: dict[str, Any]) -> bool:
        if index >= len(self._requests):
            return False
        request = self._requests[index]
        return (request.source, request.stop_on_error) == (
            code,
            kwargs.get("stop_on_error", True),
        )


class _Replies:
    """A shell channel that shows each message it hands out to ``seen`` first."""

    def __init__(self, channel: Any, seen: Any) -> None:
        self._channel = channel
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    async def get_msg(self, *args: Any, **kwargs: Any) -> Any:
        msg = await ensure_async(self._channel.get_msg(*args, **kwargs))
        self._seen(msg)
        return msg


class WarmKernelEngine(NBClientEngine):
    """NBClientEngine, but on the caller's kernel manager."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        km = kwargs.pop("km")
        reuse = kwargs.pop("reuse_client", None)
        holder = kwargs.pop("nb_holder", None)  # the caller's view of a failed step:
        if holder is not None:  # the notebook (executed in place) and the cell that ran
            holder["nb"] = nb_man.nb
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(
            kwargs,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=_quiet,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client = WarmKernelClient(nb_man, km=km, **final)
        client.reuse = reuse
        kept = False
        try:
            nb = client.execute(cleanup_kc=False)  # a failed cell returns (papermill marks it)
            kept = reuse is not None
            return nb
        finally:
            if not kept:  # a dead kernel, a timeout, a cancellation: never reused
                if holder is not None:
                    holder["running"] = client.running
                if reuse is not None:
                    forget_client(reuse)
                if client.kc is not None:
                    stop_channels(client.kc)


def forget_client(kept: dict[str, Any]) -> None:
    """Stop and forget a slot's kept client (in the thread whose loop it runs on)."""
    kc = kept.get("kc")
    kept.clear()
    if kc is not None:
        stop_channels(kc)


def stop_channels(kc: Any) -> None:
    """Close the channels this client started (``KernelClient.stop_channels`` first creates
    and connects the stdin, control and heartbeat sockets it never used, to stop them)."""
    for channel in (kc._shell_channel, kc._iopub_channel):
        if channel is not None and channel.is_alive():
            channel.stop()


papermill_engines.register(ENGINE_NAME, WarmKernelEngine)
