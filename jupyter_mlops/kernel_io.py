"""Code that runs inside the user's kernel: load a step's inputs, save its outputs.

The generated step notebooks call :func:`load_inputs` before the step's cells and
:func:`save_outputs` after them. Only the standard library is imported at module level.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import kernel_reads
from .serialization import CorruptArtifact, SerializationError, dump, load


class PassError(Exception):
    """A variable cannot be passed to the steps that need it."""


class StepExited(Exception):
    """The step called ``exit()``/``quit()``, which would shut the kernel down."""


def _refuse_exit(*args: Any, **kwargs: Any) -> None:
    raise StepExited(
        "exit() and quit() would shut the kernel down before the step's outputs are saved: "
        "a step must run to its end (raise an exception to make it fail)"
    )


def begin_step() -> None:
    """Called first in every step: ``exit()``/``quit()`` then fail the cell that calls them
    (IPython would otherwise stop the kernel after that cell, losing the step's outputs)."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    if shell is not None and "ask_exit" not in vars(shell):
        shell.ask_exit = _refuse_exit


# variable -> (digest, object) for values this kernel loaded or produced; a later step in the
# same kernel reuses a variable only while the name is still bound to that very object.
_RESIDENT: dict[str, tuple[str, Any]] = {}


def _caller_namespace() -> dict[str, Any]:
    """The globals of the cell that called our caller (generated cells pass ``None``, so
    they never look up a name such as ``globals`` that the user may have rebound)."""
    return sys._getframe(2).f_globals


def load_inputs(namespace: dict[str, Any] | None, inputs: dict[str, tuple[str, str]]) -> None:
    """Bind each input ``{name: (digest, path)}`` into ``namespace`` (None: the caller's).

    A value already in this kernel (produced or loaded by an earlier step, and still
    bound to the same object) is reused instead of being read again.
    """
    if namespace is None:
        namespace = _caller_namespace()
    for name, (digest, path) in inputs.items():
        resident = _RESIDENT.get(name)
        if (
            resident is not None
            and resident[0] == digest
            and namespace.get(name, _MISSING) is resident[1]
        ):
            continue
        try:
            value = load(path, digest)  # checks the bytes against the digest first
        except CorruptArtifact as exc:
            raise CorruptArtifact(f"input {name!r}: {exc}") from None
        namespace[name] = value
        _RESIDENT[name] = (digest, value)


_MISSING = object()


def save_outputs(
    namespace: dict[str, Any] | None,
    *,
    step: str,
    outputs: list[str],
    consumers: dict[str, list[str]],
    metrics: list[str],
    example: str | None,
    environment: bool,
    artifacts: str,
    manifest: str,
) -> None:
    """Serialize the step's outputs, metrics and example; write the manifest JSON.

    ``namespace`` None means the calling cell's globals.
    """
    reads = kernel_reads.collect()  # first: what the step read, not what saving reads
    if namespace is None:
        namespace = _caller_namespace()
    record: dict[str, Any] = {"outputs": {}, "metrics": {}, "example": None, "environment": None}
    for name in outputs:
        if name not in namespace:
            # Conditionally bound and not bound this time: the consumer gets a clear NameError.
            continue
        value = namespace[name]
        try:
            record["outputs"][name] = dump(value, artifacts, background=True)
            _RESIDENT[name] = (record["outputs"][name]["digest"], value)
        except SerializationError as exc:
            users = ", ".join(repr(s) for s in consumers.get(name, [])) or "a later step"
            raise PassError(
                f"variable {name!r} of type {exc.type_name} cannot be passed from step {step!r} "
                f"to {users}: {exc.reason}. Recompute it in the consuming step, or create it in a "
                f"setup cell (tag 'setup'/'imports'/'functions')."
            ) from None
    for name in metrics:
        if name not in namespace:
            raise PassError(
                f"metric {name!r} is not defined at the end of step {step!r} "
                "(it is bound only on some paths): bind it on every path"
            )
        record["metrics"][name] = _metric_value(name, namespace[name], step)
    if example is not None:
        try:
            value = eval(example, namespace)  # noqa: S307 - the user's own `example:` expression
        except Exception as exc:  # noqa: BLE001 - any failure of the user's expression
            raise PassError(
                f"the example input 'example:{example}' failed at the end of step {step!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        try:
            record["example"] = dump(value, artifacts)
        except SerializationError as exc:
            raise PassError(
                f"the example input {example!r} of type {exc.type_name} cannot be saved: "
                f"{exc.reason}"
            ) from None
    if environment:
        record["environment"] = kernel_environment()
    record["reads"], record["executed_at"] = reads, time.time()
    tmp = f"{manifest}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    os.replace(tmp, manifest)


def _metric_value(name: str, value: Any, step: str) -> float | int | bool | None:
    """A JSON number for the metric (NaN and infinities become null)."""
    if hasattr(value, "item") and callable(value.item):  # numpy scalars, 0-d arrays
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    if isinstance(value, (bool, int, float)):
        return None if isinstance(value, float) and not math.isfinite(value) else value
    raise PassError(
        f"metric {name!r} at the end of step {step!r} is a {type(value).__name__}, not a number: "
        f"compute a number in the step and list that in the metrics cell"
    )


def kernel_environment() -> dict[str, Any]:
    """Python version and the versions of the distributions imported in this kernel."""
    from importlib import metadata

    top_level = {name.split(".", 1)[0] for name in list(sys.modules)}
    try:
        mapping = metadata.packages_distributions()
    except Exception:  # noqa: BLE001 - broken metadata must not fail the step
        mapping = {}
    packages: dict[str, str] = {}
    for module in sorted(top_level):
        for dist in mapping.get(module, []):
            try:
                packages[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return {
        "python": ".".join(str(v) for v in sys.version_info[:3]),
        "executable": sys.executable,
        "packages": dict(sorted(packages.items(), key=lambda kv: kv[0].lower())),
        "cwd": str(Path.cwd()),
    }
