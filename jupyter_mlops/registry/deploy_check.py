"""Deployability check, run with the Python of the kernel that made the model.

One fresh process of that interpreter runs ``_jupyter_mlops_kernel.kernel_models``
(see ``kernel_package.py``; only our stdlib-only helpers are added to its path), started
early so its imports overlap with the publisher's own work. Each request is handled in a
child forked from it before it ever loads a model: the *save* loads the run's model
artifact and writes it natively (skops or cloudpickle); the *check* then loads that file,
as :func:`~jupyter_mlops.load_model` will, and predicts on the example, in a process that
never held the run's model. So the pins (the kernel's package versions), the saved bytes and the proof that they
load all come from one environment; the result names the interpreter that passed.

Run by hand: ``python -m jupyter_mlops.registry.deploy_check MODEL_DIR [EXAMPLE]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = float(os.environ.get("JUPYTER_MLOPS_CHECK_TIMEOUT", "600"))


def kernel_python(environment: dict[str, Any] | None) -> str:
    """The interpreter recorded for the run's kernel (this one for runs that predate it)."""
    from .publishing import DeployabilityFailed

    executable = (environment or {}).get("executable")
    if not executable:
        return sys.executable
    if not os.access(executable, os.X_OK):
        raise DeployabilityFailed(
            f"the Python of the kernel that made this model ({executable}) no longer exists: "
            "re-run the notebook with an installed kernel, then publish"
        )
    return executable


class ModelProcess:
    """A ``kernel_models`` server of ``python``, started now: :meth:`submit` one request,
    then :meth:`result` its answer, as often as needed (each request is handled in a fresh
    fork; where there is no fork, each in a new process)."""

    def __init__(self, python: str | None = None, cwd: str | None = None) -> None:
        self.python = python or sys.executable
        self._cwd = cwd
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in cancel()
        self._start()

    def _start(self) -> None:
        from ..kernel_package import kernel_environ

        self.proc = subprocess.Popen(  # noqa: S603 - the run's own interpreter, fixed module
            [self.python, "-m", "_jupyter_mlops_kernel.kernel_models", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=self._cwd,
            env=kernel_environ(),
            text=True,
        )

    def submit(self, request: dict[str, Any]) -> None:
        if self.proc.poll() is not None and self.proc.returncode == 0:
            self._start()  # no fork on this platform: one request per process
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # reported by result()

    def result(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.cancel()
                return {"ok": False, "error": f"check did not finish within {timeout:g} s"}
        line = self.proc.stdout.readline()
        if line.strip():
            return json.loads(line)
        self.proc.wait()
        self._stderr.seek(0)
        err = self._stderr.read().decode(errors="replace").strip().splitlines()
        tail = err[-1] if err else "no output"
        return {
            "ok": False,
            "executable": self.python,
            "error": f"{self.python} exited {self.proc.returncode}: {tail}",
        }

    def cancel(self) -> None:
        """Stop the server (and any request still going)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        self._stderr.close()


def main(argv: list[str] | None = None) -> int:
    """Check an MLflow model directory written by our publisher, in this Python."""
    from ..kernel_models import check
    from .loading import native_spec

    argv = sys.argv[1:] if argv is None else argv
    if not argv or len(argv) > 2:
        print("usage: python -m jupyter_mlops.registry.deploy_check MODEL_DIR [EXAMPLE]")
        return 2
    kind, file, trusted = native_spec(Path(argv[0]))
    result = check(kind, str(file), trusted, argv[1] if len(argv) > 1 else None)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
