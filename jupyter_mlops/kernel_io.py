"""Code that runs inside the user's kernel: load a step's inputs, save its outputs.

The generated step notebooks call :func:`load_inputs` before the step's cells and
:func:`save_outputs` after them. Only the standard library is imported at module level.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import kernel_reads
from .serialization import CorruptArtifact, SerializationError, _readable, dump, load


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


# Values the last step in this kernel produced: variable -> (digest, reference, step number).
# Held weakly where the type allows (``del big_df`` in a later step frees it) and forgotten
# as soon as the next step starts, so nothing here outlives its usefulness.
# The artifact path is kept for outputs written in the background (None: already written).
_RESIDENT: dict[str, tuple[str, Callable[[], Any], int, str | None]] = {}
_STEPS = 0  # steps started in this kernel
_CLEAN: set[str] | None = None  # names bound before the previous step's inputs were


def _caller_namespace() -> dict[str, Any]:
    """The globals of the cell that called our caller (generated cells pass ``None``, so
    they never look up a name such as ``globals`` that the user may have rebound)."""
    return sys._getframe(2).f_globals


def load_inputs(
    namespace: dict[str, Any] | None,
    inputs: dict[str, tuple[str, str]],
    keep: Iterable[str] = (),
) -> None:
    """Bind each input ``{name: (digest, path)}`` into ``namespace`` (None: the caller's).

    An input is the value at the end of its producing step, whatever ran in this kernel
    since: a value is reused without reading it again only when the step that ran just
    before in this kernel produced it, it has that digest, the name is still bound to that
    very object, and it is safely written (no code has been able to change it since it was
    hashed). Anything else is loaded from its artifact, so a change a step made that the
    compiler could not see (a helper mutating its argument) never reaches another step.

    Names that earlier steps bound in this kernel are removed first (except ``keep``, this
    step's parameters, and the kernel's own names), as a fresh kernel would not have them.
    """
    global _STEPS, _CLEAN
    if namespace is None:
        namespace = _caller_namespace()
    reuse: dict[str, Any] = {}
    for name, (digest, _path) in inputs.items():
        resident = _RESIDENT.get(name)
        if resident is None or resident[0] != digest or resident[2] != _STEPS:
            continue
        value = resident[1]()
        if value is not None and namespace.get(name, _MISSING) is value:
            reuse[name] = value
    if reuse:  # background writes must be complete before the step may change (an alias of) it
        for _digest, _ref, _step, writing in _RESIDENT.values():
            if writing is not None:
                _readable(Path(writing))
    _RESIDENT.clear()
    _STEPS += 1
    if _CLEAN is not None:
        for name in set(namespace) - _CLEAN - set(keep):
            if not _KERNEL_NAME.fullmatch(name):
                del namespace[name]
    _CLEAN = set(namespace)
    for name, (digest, path) in inputs.items():
        if name in reuse:
            namespace[name] = reuse.pop(name)
        else:
            try:
                namespace[name] = load(path, digest)  # checks the bytes against the digest
            except CorruptArtifact as exc:
                raise CorruptArtifact(f"input {name!r}: {exc}") from None


# IPython's and ours: _, __, _i, _ii, _i3, _3, _oh, _ih, _dh, dunders, _mlops_*
_KERNEL_NAME = re.compile(r"_+|_i{1,3}|_i?\d+|_[oid]h|__\w+__|_mlops\w*")


def _reference(value: Any) -> Callable[[], Any]:
    """A weak reference when the type allows it, else a strong one."""
    try:
        return weakref.ref(value)
    except TypeError:
        return lambda: value


_MISSING = object()


def read_secrets(namespace: dict[str, Any] | None, path: str) -> None:
    """Bind the secret parameters from their private file, and delete it."""
    if namespace is None:
        namespace = _caller_namespace()
    try:
        with open(path, encoding="utf-8") as fh:
            namespace.update(json.load(fh))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


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
    if example is not None:  # first: the expression is user code, outputs are hashed after it
        try:
            sample = eval(example, namespace)  # noqa: S307 - the user's own `example:` expression
        except Exception as exc:  # noqa: BLE001 - any failure of the user's expression
            raise PassError(
                f"the example input 'example:{example}' failed at the end of step {step!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    for name in outputs:
        if name not in namespace:
            # Conditionally bound and not bound this time: the consumer gets a clear NameError.
            continue
        value = namespace[name]
        try:
            record["outputs"][name] = dump(value, artifacts, background=True)
            entry = record["outputs"][name]
            writing = entry["path"] if entry.get("pending") else None
            _RESIDENT[name] = (entry["digest"], _reference(value), _STEPS, writing)
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
            record["example"] = dump(sample, artifacts)
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


# -- what the generated cells call --------------------------------------------------------
# IPython tokenizes a cell's Python source before running it, in Python: a call with a dozen
# literals costs ≈ 1.5 ms, more than the work it asks for. So the generated cells pass their
# arguments as one JSON document in one string literal (one token, parsed in C).


def cell_reads(spec: str) -> None:
    """Start recording the step's reads: ``{"base", "exclude", "declared"}``."""
    args = json.loads(spec)
    kernel_reads.start(args["base"], args["exclude"], args["declared"])


def cell_inputs(spec: str) -> None:
    """:func:`load_inputs` into the calling cell's globals: ``{"inputs", "keep"}``."""
    args = json.loads(spec)
    load_inputs(sys._getframe(1).f_globals, args["inputs"], keep=args["keep"])


def cell_outputs(spec: str) -> None:
    """:func:`save_outputs` from the calling cell's globals (its keyword arguments)."""
    save_outputs(sys._getframe(1).f_globals, **json.loads(spec))


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
