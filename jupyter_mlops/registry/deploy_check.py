"""Deployability check: load the model in a fresh Python process and predict on the example.

The process is started early (``DeployCheck()``) so its imports overlap with the publisher's
MLflow work; it then waits for one JSON request on stdin::

    {"model_dir": ..., "example": <serialization artifact path or null>,
     "trusted_types": [...] or null}

and answers one JSON line on its original stdout (the model's own prints go to stderr).
Run by hand: ``python -m jupyter_mlops.registry.deploy_check MODEL_DIR [EXAMPLE]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = float(os.environ.get("JUPYTER_MLOPS_CHECK_TIMEOUT", "600"))


def _rows(value: Any) -> int | None:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) else None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return None
    return len(value)


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def check(model_dir: str, example: str | None, trusted_types: list[str] | None) -> dict:
    """Load ``model_dir`` with :func:`load_native_from_dir`; predict on ``example``."""
    from .loading import load_native_from_dir

    result: dict[str, Any] = {"python": sys.version.split()[0], "fresh_process": True}
    started = time.perf_counter()
    try:
        model = load_native_from_dir(model_dir, trusted_types)
    except BaseException as exc:  # noqa: BLE001 - report any load failure
        return {
            **result,
            "ok": False,
            "loaded": False,
            "error": f"load_model failed: {_error(exc)}",
        }
    result.update(loaded=True, load_seconds=round(time.perf_counter() - started, 3))
    result["model_type"] = f"{type(model).__module__}.{type(model).__qualname__}"
    if example is None:
        return {**result, "ok": True, "predicted": None, "note": "no example: predict not run"}
    from ..serialization import load

    data = load(example)
    rows_in = _rows(data)
    started = time.perf_counter()
    try:
        output = model.predict(data)
    except BaseException as exc:  # noqa: BLE001 - report any predict failure
        return {
            **result,
            "ok": False,
            "predicted": False,
            "error": f"predict failed: {_error(exc)}",
        }
    rows_out = _rows(output)
    result.update(
        predicted=True,
        predict_seconds=round(time.perf_counter() - started, 3),
        rows_in=rows_in,
        rows_out=rows_out,
        output_type=f"{type(output).__module__}.{type(output).__qualname__}",
    )
    if rows_in is not None and rows_out != rows_in:
        result.update(
            ok=False,
            error=f"predict returned {rows_out if rows_out is not None else 'a scalar'} "
            f"row(s) for {rows_in} input row(s)",
        )
        return result
    return {**result, "ok": True}


def _serve() -> int:
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything the model prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    for module in ("yaml", "cloudpickle", "skops.io", "sklearn.base", "numpy", "pandas"):
        with contextlib.suppress(ImportError):  # warm up while the publisher works
            __import__(module)
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    request = json.loads(line)
    try:
        result = check(request["model_dir"], request.get("example"), request.get("trusted_types"))
    except BaseException as exc:  # noqa: BLE001 - always answer
        result = {"ok": False, "error": f"check crashed: {_error(exc)}"}
    reply.write(json.dumps(result, default=str) + "\n")
    reply.flush()
    return 0


class DeployCheck:
    """A fresh check process, started now, given its model later."""

    def __init__(self, cwd: str | None = None) -> None:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if package_root not in parts:
            parts.append(package_root)  # so a source checkout works like an install
        env["PYTHONPATH"] = os.pathsep.join(parts)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in result()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_mlops.registry.deploy_check", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=cwd,
            env=env,
            text=True,
        )

    def submit(self, model_dir: Path, example: str | None, trusted: list[str] | None) -> None:
        request = {"model_dir": str(model_dir), "example": example, "trusted_types": trusted}
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # reported by result()
        self.proc.stdin = None  # communicate() must not touch it again

    def result(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.cancel()
            return {"ok": False, "error": f"check did not finish within {timeout:g} s"}
        finally:
            self._stderr.seek(0)
            err = self._stderr.read().decode(errors="replace").strip().splitlines()
            self._stderr.close()
        lines = [line for line in (out or "").splitlines() if line.strip()]
        if lines:
            return json.loads(lines[-1])
        tail = err[-1] if err else "no output"
        return {"ok": False, "error": f"check process exited {self.proc.returncode}: {tail}"}

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--serve"]:
        return _serve()
    if not argv or len(argv) > 2:
        print("usage: python -m jupyter_mlops.registry.deploy_check MODEL_DIR [EXAMPLE]")
        return 2
    result = check(argv[0], argv[1] if len(argv) > 1 else None, None)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
