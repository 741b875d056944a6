"""Models in the kernel's own Python: save a run's model natively, load it back, check it.

The publisher runs this module with the Python of the kernel that made the model
(``python -m _jupyter_mlops_kernel.kernel_models --serve``, see ``kernel_package.py``), so
the saved bytes, the deployability proof and the pinned versions all come from one
environment. :func:`load_native` is also what ``load_model`` uses. Only the standard
library is imported at module level. In the kernel's environment it needs: cloudpickle
(pickle-based models and examples), scikit-learn + skops (scikit-learn models, saved in
skops format), numpy (array examples), and the model's own libraries; no MLflow.

Protocol: JSON requests on stdin, one per line, each answered by one JSON line on the
original stdout (the model's own prints go to stderr)::

    {"op": "save", "model": ARTIFACT, "out": DIR, "example": ARTIFACT or null}
    {"op": "check", "kind": "skops"|"cloudpickle", "file": PATH, "trusted": [...],
     "example": ARTIFACT or null}

The serving process imports the libraries models need (scikit-learn, skops, numpy,
cloudpickle) and then handles every request in a child *forked* from that template (where
``os.fork`` exists; else in the process itself, one request per process). So the save and
the check share one interpreter start and one set of imports, yet the check still runs in
a process that never held the run's model or any object of the notebook: what it knows of
the model comes from the saved file alone, exactly as ``load_model`` in a new process.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .kernel_signature import describe

SKOPS = "skops"
CLOUDPICKLE = "cloudpickle"
FILES = {SKOPS: "model.skops", CLOUDPICKLE: "model.pkl"}


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _interpreter() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "executable": sys.executable}


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _importable(type_name: str) -> bool:
    module = type_name.rsplit(".", 1)[0]
    if module == "__main__" or "<locals>" in type_name:
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _choose(model: Any) -> tuple[str, str, list[str], bytes | None]:
    """(kind, reason, skops trusted types, skops bytes): skops for scikit-learn estimators
    whose classes can all be imported by name, else cloudpickle."""
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if "sklearn" not in sys.modules:
        return CLOUDPICKLE, f"{kind} is not a scikit-learn estimator", [], None
    from sklearn.base import BaseEstimator

    if not isinstance(model, BaseEstimator):
        return CLOUDPICKLE, f"{kind} is not a scikit-learn estimator", [], None
    try:
        import skops.io as sio
    except ImportError:
        return CLOUDPICKLE, "skops is not installed in the kernel's environment", [], None
    try:
        data = sio.dumps(model)
        untrusted = sorted(sio.get_untrusted_types(data=data))
    except Exception as exc:  # noqa: BLE001 - any skops failure means "use cloudpickle"
        return CLOUDPICKLE, f"skops cannot serialize it ({_error(exc)})", [], None
    local = [t for t in untrusted if not _importable(t)]
    if local:
        reason = "contains classes no other process can import: " + ", ".join(local)
        return CLOUDPICKLE, reason, [], None
    return SKOPS, "scikit-learn estimator, skops format", untrusted, data


def save(model_artifact: str, out: str, example: str | None) -> dict[str, Any]:
    """Load the run's model (digest checked) and save it natively under ``out``; predict on
    the example and save the prediction (for the signature)."""
    from .serialization import dump, load

    result: dict[str, Any] = _interpreter()
    try:
        model = load(model_artifact)
    except BaseException as exc:  # noqa: BLE001 - report any load failure
        return {**result, "ok": False, "error": f"load_model failed: {_error(exc)}"}
    kind, reason, trusted, data = _choose(model)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / FILES[kind]
    if data is None:
        import cloudpickle

        data = cloudpickle.dumps(model)
    file.write_bytes(data)
    result.update(
        ok=True,
        kind=kind,
        reason=reason,
        trusted_types=trusted,
        file=str(file),
        sha256=sha256_file(file),
        model_type=f"{type(model).__module__}.{type(model).__qualname__}",
        versions={d: _version(d) for d in ("scikit-learn", "skops", "cloudpickle", "numpy")},
        prediction=None,
    )
    if example is not None:
        with contextlib.suppress(Exception):  # the check reports predict failures
            data = load(example)
            prediction = model.predict(data)
            result["prediction"] = dump(prediction, folder / "prediction")["path"]
            result["described"] = describe(data, prediction)
    return result


def load_native(kind: str, file: str | os.PathLike[str], trusted: list[str] | None) -> Any:
    """The object saved by :func:`save` (skops trusting ``trusted``, or cloudpickle)."""
    if kind == SKOPS:
        import skops.io

        return skops.io.load(file, trusted=list(trusted or []))
    if kind != CLOUDPICKLE:
        raise ValueError(f"unknown model format {kind!r}")
    import pickle

    import cloudpickle  # noqa: F401 - rebuilds classes pickled by value

    with open(file, "rb") as fh:
        return pickle.load(fh)


def loads_native(kind: str, data: bytes, trusted: list[str] | None) -> Any:
    """Like :func:`load_native`, from bytes already read (and checked) by the caller."""
    if kind == SKOPS:
        import skops.io

        return skops.io.loads(data, trusted=list(trusted or []))
    if kind != CLOUDPICKLE:
        raise ValueError(f"unknown model format {kind!r}")
    import pickle

    import cloudpickle  # noqa: F401 - rebuilds classes pickled by value

    return pickle.loads(data)  # noqa: S301 - bytes whose sha256 the registry vouches for


def _rows(value: Any) -> int | None:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) else None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return None
    return len(value)


def check(kind: str, file: str, trusted: list[str] | None, example: str | None) -> dict:
    """Load the saved model in this (fresh) process and predict on ``example``."""
    result: dict[str, Any] = {**_interpreter(), "fresh_process": True}
    started = time.perf_counter()
    try:
        model = load_native(kind, file, trusted)
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
    from .serialization import load

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
        shown = rows_out if rows_out is not None else "a scalar"
        result.update(ok=False, error=f"predict returned {shown} row(s) for {rows_in} input row(s)")
        return result
    return {**result, "ok": True}


def _handle(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("op") == "save":
        return save(request["model"], request["out"], request.get("example"))
    return check(request["kind"], request["file"], request.get("trusted"), request.get("example"))


def _answer(reply: Any, request_line: str) -> None:
    try:
        result = _handle(json.loads(request_line))
    except BaseException as exc:  # noqa: BLE001 - always answer
        result = {**_interpreter(), "ok": False, "error": f"check crashed: {_error(exc)}"}
    reply.write(json.dumps(result, default=str) + "\n")
    reply.flush()


def _forked(reply: Any, line: str) -> None:
    """Handle one request in a child forked from this (model-free) template process."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # BLAS threads: fork is safe here
        pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _answer(reply, line)
        except BaseException:  # noqa: BLE001 - the parent reports a silent child
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        error = f"check process exited {os.waitstatus_to_exitcode(status)}"
        reply.write(json.dumps({**_interpreter(), "ok": False, "error": error}) + "\n")
        reply.flush()


def serve() -> int:
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything the model prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    for module in ("cloudpickle", "skops.io", "sklearn.base", "numpy"):
        with contextlib.suppress(ImportError):  # warm up while the publisher works
            __import__(module)
    fork = hasattr(os, "fork")
    for line in sys.stdin:
        if not line.strip():
            continue
        if not fork:
            _answer(reply, line)
            return 0  # one request per process without fork: the next check needs a new one
        _forked(reply, line)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        sys.exit(serve())
    print("usage: python -m _jupyter_mlops_kernel.kernel_models --serve", file=sys.stderr)
    sys.exit(2)
