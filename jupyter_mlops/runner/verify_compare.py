"""Compare the notebook run's captures with the pipeline run's step manifests (``verify``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..compiler.pipeline import Pipeline, Step
from .compare import abridge, first_difference


class _Difference(Exception):
    def __init__(self, **fields: Any) -> None:
        super().__init__(fields.get("variable"))
        self.fields = fields


def _capture(tmp: Path, label: str) -> dict[str, Any] | None:
    try:
        return json.loads((tmp / "captures" / f"{label}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _load(entry: dict[str, Any]) -> Any:
    from ..serialization import load

    return load(entry["path"], entry["digest"])


def _same(
    nb: dict[str, Any] | None, pipe: dict[str, Any] | None, tol: float
) -> tuple[bool, str, Any, Any]:
    """(equal, where, notebook value, pipeline value) of two artifact entries."""
    nb_missing = nb is None or nb.get("missing")
    pipe_missing = pipe is None or pipe.get("missing")
    if nb_missing or pipe_missing:
        if nb_missing and pipe_missing:
            return True, "", None, None
        shown = (_Note("<not bound>"), _Note("<bound>"))
        shown = shown if nb_missing else shown[::-1]
        return False, "", *shown
    if nb.get("error") or pipe.get("error"):
        return True, "", None, None  # cannot be saved: the pipeline refuses to pass it anyway
    if nb["digest"] == pipe["digest"]:
        return True, "", None, None
    try:
        a, b = _load(nb), _load(pipe)
    except Exception as exc:  # noqa: BLE001 - a library missing in this process
        why = _Note(f"<cannot load here: {type(exc).__name__}: {exc}>")
        return False, "", why, _Note(f"<digest {pipe['digest'][:12]}>")
    if _drawing(a) or _drawing(b):
        return True, "", a, b  # figures and modules: not results to compare
    where = first_difference(a, b, tol)
    return where is None, where or "", a, b


def _drawing(value: Any) -> bool:
    """A module, or an object of a plotting library (a figure, axes)."""
    import types

    from ..compiler.facts import PLOT_MODULES

    return isinstance(value, types.ModuleType) or (
        type(value).__module__.split(".")[0] in PLOT_MODULES
    )


def compare_runs(pipeline: Pipeline, tmp: Path, nb_out: Any, pipe_out: Any, tol: float) -> dict:
    """The V contract's ``{"equal", "message", "difference", "compared"}``."""
    from .verify import _order

    compared = {"variables": 0, "steps": 0, "metrics": 0}
    failure = nb_out.error or pipe_out.error
    if failure:
        return {"equal": False, "message": f"not compared: {failure}", "difference": None,
                "compared": compared}  # fmt: skip
    try:
        for k, step in enumerate(_order(pipeline)):
            _compare_step(pipeline, k, step, tmp, nb_out, pipe_out, tol, compared)
            compared["steps"] += 1
    except _Difference as found:
        from .verify_causes import explain

        f = found.fields
        cause, fix = explain(pipeline, f["kind"], f["variable"], f["step"], f.get("producer"))
        label = "metric" if f.get("metric") else "variable"
        relation = "read by" if f["kind"] == "input" else "after"
        path, _, note = (f.get("where") or "").partition(" (")
        note = f" ({note}" if note else ""
        message = (
            f"differs: {label} '{f['variable']}{path}'{note} {relation} step "
            f"'{f['step']}': notebook {f['notebook_value']} vs pipeline {f['pipeline_value']}"
        )
        difference = {"variable": f["variable"], "step": f["step"],
                      "notebook_value": f["notebook_value"],
                      "pipeline_value": f["pipeline_value"], "cause": cause, "fix": fix}  # fmt: skip
        return {"equal": False, "message": message, "difference": difference,
                "compared": compared}  # fmt: skip
    message = (
        f"equal: {compared['variables']} variable{'s' if compared['variables'] != 1 else ''} "
        f"in {compared['steps']} step{'s' if compared['steps'] != 1 else ''} and "
        f"{compared['metrics']} metric{'s' if compared['metrics'] != 1 else ''}"
    )
    return {"equal": True, "message": message, "difference": None, "compared": compared}


def _compare_step(
    pipeline: Pipeline, k: int, step: Step, tmp: Path, nb_out: Any, pipe_out: Any,
    tol: float, compared: dict[str, int],
) -> None:  # fmt: skip
    from .verify import _metrics_of, _outputs, compared_names

    start = _capture(tmp, f"start-{k}") if step.inputs else None
    for name in sorted(step.inputs):
        producer = step.inputs[name]
        given = (pipe_out.manifests.get(producer) or {}).get("outputs", {}).get(name)
        seen = (start or {}).get("values", {}).get(name)
        equal, where, a, b = _same(seen, given, tol)
        compared["variables"] += 1
        if not equal:
            raise _Difference(kind="input", variable=name, step=step.name, producer=producer,
                              where=where, notebook_value=_shown(a),
                              pipeline_value=_shown(b))  # fmt: skip
    end = _capture(tmp, f"end-{k}") or {}
    produced = dict((_capture(tmp, f"pipe-{k}") or {}).get("values", {}))
    produced.update((pipe_out.manifests.get(step.name) or {}).get("outputs", {}))
    outputs = _outputs(pipeline, step)
    for name in compared_names(pipeline, step):
        given = produced.get(name)
        if given is None and name in outputs:
            given = {"missing": True}  # an output not bound at the end of the step
        equal, where, a, b = _same(end.get("values", {}).get(name), given, tol)
        compared["variables"] += 1
        if not equal:
            raise _Difference(kind="output", variable=name, step=step.name, where=where,
                              notebook_value=_shown(a), pipeline_value=_shown(b))  # fmt: skip
    for name in _metrics_of(pipeline, step):
        a, b = end.get("metrics", {}).get(name), pipe_out.metrics.get(name)
        compared["metrics"] += 1
        if not _metric_equal(a, b, tol):
            raise _Difference(kind="output", variable=name, step=step.name, metric=True,
                              notebook_value=_shown(a), pipeline_value=_shown(b))  # fmt: skip


def _metric_equal(a: Any, b: Any, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    return a == b or math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)


class _Note(str):
    """A placeholder shown instead of a value (not the repr of a string)."""


def _shown(value: Any) -> str:
    return str(value) if isinstance(value, _Note) else abridge(value)
