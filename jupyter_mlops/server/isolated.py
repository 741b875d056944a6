"""Service calls that run in a fresh Python process, not in the Jupyter server.

Publishing imports MLflow and scikit-learn (seconds of pure-Python work holding the GIL):
done in a thread of the server, it starves the Tornado event loop (stalls of 1-4 s were
measured). The server therefore runs such calls as ``python -m
jupyter_mlops.server.isolated``: the request (service settings, method, arguments) goes in
as JSON on stdin, the answer comes back as one JSON line, and user errors come back with
their message, HTTP status, exit code and details (e.g. a refused gate's checks).

The caller (:func:`call`) blocks its thread while the child works, so it belongs in the
extension's executor, never on the event loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from ..errors import MlopsError


class IsolatedError(MlopsError):
    """A user error raised by the service in the child process, as it was raised there."""

    def __init__(self, messages: list[str], http_status: int, exit_code: int, details: dict):
        super().__init__(*messages)
        self.http_status = http_status
        self.exit_code = exit_code
        self._details = details

    def details(self) -> dict:
        return dict(self._details)


TIMEOUT_ENV = "JUPYTER_MLOPS_ISOLATED_TIMEOUT"


def call(settings: dict[str, Any], method: str, *args: Any, **kwargs: Any) -> Any:
    """``MlopsService.create(**settings).<method>(*args, **kwargs)`` in a fresh process
    (stopped after ``$JUPYTER_MLOPS_ISOLATED_TIMEOUT`` seconds, default 1800)."""
    timeout = float(os.environ.get(TIMEOUT_ENV, "1800"))
    request = json.dumps({"settings": settings, "method": method, "args": args,
                          "kwargs": kwargs})  # fmt: skip
    try:
        done = subprocess.run(  # noqa: S603 - our own module, this interpreter
            [sys.executable, "-m", "jupyter_mlops.server.isolated"],
            input=request,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise IsolatedError(
            [f"{method} did not finish within {timeout:g} s (the child process was stopped); "
             f"set {TIMEOUT_ENV} to allow longer"],
            504, 1, {},
        ) from None  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{method} in a child process exited {done.returncode}: {tail}")
    answer = json.loads(lines[-1])
    if answer["ok"]:
        return answer["result"]
    error = answer["error"]
    if error.get("user"):
        raise IsolatedError(error["messages"], error["http_status"], error["exit_code"],
                            error.get("details") or {})  # fmt: skip
    raise RuntimeError(f"{method} in a child process: {error['messages'][0]}")


def _answer(reply: Any, payload: dict[str, Any]) -> None:
    from ..jsonsafe import dumps

    reply.write(dumps(payload) + "\n")
    reply.flush()


def main() -> int:
    """The child: read one request on stdin, answer on stdout (anything else the work
    prints goes to stderr)."""
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    request = json.loads(sys.stdin.read())
    from ..service import MlopsService

    try:
        service = MlopsService.create(**request["settings"])
        result = getattr(service, request["method"])(*request["args"], **request["kwargs"])
    except MlopsError as exc:
        details = exc.details() if hasattr(exc, "details") else {}
        _answer(reply, {"ok": False, "error": {
            "user": True, "messages": list(exc.messages), "http_status": exc.http_status,
            "exit_code": exc.exit_code, "details": details,
        }})  # fmt: skip
        return 0
    except Exception as exc:  # noqa: BLE001 - reported to the server's log by the caller
        _answer(
            reply,
            {"ok": False, "error": {"user": False, "messages": [f"{type(exc).__name__}: {exc}"]}},
        )
        return 1
    _answer(reply, {"ok": True, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
