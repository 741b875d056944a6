"""Metric gates: ``--require "METRIC>=X"`` and ``--must-beat ALIAS:METRIC[:lower]``."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import GateRefused, InvalidInput

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_REQUIRE = re.compile(r"^\s*([^<>=!\s][^<>=!]*?)\s*(>=|<=|==|>|<)\s*([^<>=\s]+)\s*$")


@dataclass(frozen=True)
class Require:
    """``metric op threshold``: the run's metric must satisfy it."""

    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


@dataclass(frozen=True)
class MustBeat:
    """The run's ``metric`` must beat the version holding ``alias`` (higher is better
    unless ``lower``)."""

    alias: str
    metric: str
    lower: bool = False

    def __str__(self) -> str:
        return f"{self.alias}:{self.metric}" + (":lower" if self.lower else "")


def _number(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"--require {spec!r}: {text!r} is not a number") from None
    if math.isnan(value):
        raise InvalidInput(f"--require {spec!r}: threshold cannot be NaN")
    return value


def parse_require(spec: str | Require) -> Require:
    """Parse ``"METRIC>=X"`` (operators >=, >, <=, <, ==)."""
    if isinstance(spec, Require):
        return spec
    match = _REQUIRE.match(spec or "")
    if not match:
        raise InvalidInput(
            f"--require {spec!r}: expected METRIC OP NUMBER with OP one of >=, >, <=, <, =="
        )
    metric, op, value = match.groups()
    return Require(metric.strip(), op, _number(value, spec))


def parse_must_beat(spec: str | MustBeat | None) -> MustBeat | None:
    """Parse ``"ALIAS:METRIC"`` or ``"ALIAS:METRIC:lower"`` (``:higher`` also accepted)."""
    if spec is None or isinstance(spec, MustBeat):
        return spec
    parts = spec.split(":")
    if len(parts) == 3 and parts[2] in ("lower", "higher"):
        lower = parts[2] == "lower"
        parts = parts[:2]
    else:
        lower = False
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise InvalidInput(f"--must-beat {spec!r}: expected ALIAS:METRIC or ALIAS:METRIC:lower")
    return MustBeat(parts[0].strip(), parts[1].strip(), lower)


def _metric(metrics: Mapping[str, Any], name: str, whose: str) -> float:
    if name not in metrics:
        known = ", ".join(sorted(metrics)) or "none"
        raise InvalidInput(f"{whose} has no metric {name!r} (metrics: {known})")
    try:
        return float(metrics[name])
    except (TypeError, ValueError):
        raise InvalidInput(f"{whose}: metric {name!r} is not a number") from None


def check_requires(requires: Iterable[Require], metrics: Mapping[str, Any]) -> list[dict]:
    """Evaluate every ``--require``; raise :class:`GateRefused` on the first that fails."""
    results = []
    for req in requires:
        value = _metric(metrics, req.metric, "the run")
        if not _OPS[req.op](value, req.threshold):
            failed = {"gate": f"require {req}", "value": value, "passed": False}
            raise GateRefused(
                f"gate --require {req} failed: {req.metric} is {value:g}, "
                f"required {req.op} {req.threshold:g}",
                checks={"gates": [*results, failed]},
            )
        results.append({"gate": f"require {req}", "value": value, "passed": True})
    return results


def check_must_beat(
    gate: MustBeat, metrics: Mapping[str, Any], incumbent: Mapping[str, Any], version: str
) -> dict:
    """Compare the run with the version currently holding ``gate.alias``."""
    value = _metric(metrics, gate.metric, "the run")
    other = _metric(incumbent, gate.metric, f"version {version} (@{gate.alias})")
    better = value < other if gate.lower else value > other
    if not better:
        word = "lower" if gate.lower else "higher"
        failed = {"gate": f"must-beat {gate}", "value": value, "incumbent": other,
                  "incumbent_version": int(version), "passed": False}  # fmt: skip
        raise GateRefused(
            f"gate --must-beat {gate} failed: {gate.metric} is {value:g}, "
            f"@{gate.alias} (version {version}) has {other:g} ({word} is better)",
            checks={"gates": [failed]},
        )
    return {
        "gate": f"must-beat {gate}",
        "value": value,
        "incumbent": other,
        "incumbent_version": int(version),
        "passed": True,
    }


def no_incumbent(gate: MustBeat, metrics: Mapping[str, Any]) -> dict:
    """``--must-beat`` when no version holds ``gate.alias`` (or the model is new): the
    challenger wins; the check records why."""
    value = _metric(metrics, gate.metric, "the run")
    return {
        "gate": f"must-beat {gate}",
        "value": value,
        "incumbent": None,
        "incumbent_version": None,
        "passed": True,
        "note": f"no version holds @{gate.alias} yet",
    }


def promotion(
    gate: MustBeat | None,
    alias: str,
    metrics: Mapping[str, Any],
    holder: tuple[int, Mapping[str, Any]] | None,
) -> dict:
    """``--promote ALIAS``: whether ALIAS moves to the new version, and why. ``holder`` is
    ``(version, metrics)`` of the version holding ``gate.alias`` (None: none). Without a
    gate the alias always moves; otherwise only when the run beats the holder (a holder
    without the metric keeps the alias: nothing can show the challenger is better)."""
    out: dict[str, Any] = {"alias": alias, "promoted": True, "metric": None, "value": None,
                           "incumbent": None, "incumbent_version": None}  # fmt: skip
    if gate is None:
        return {**out, "reason": f"no --must-beat: @{alias} moves to every new version"}
    value = _metric(metrics, gate.metric, "the run")
    out.update(metric=gate.metric, value=value, lower=gate.lower)
    if holder is None:
        return {**out, "reason": f"no version holds @{gate.alias} yet"}
    version, incumbent = holder
    out["incumbent_version"] = int(version)
    try:
        other = _metric(incumbent, gate.metric, f"version {version} (@{gate.alias})")
    except InvalidInput as exc:
        return {**out, "promoted": False, "reason": f"{exc.messages[0]}: @{alias} stays"}
    out["incumbent"] = other
    better = value < other if gate.lower else value > other
    word = "lower" if gate.lower else "higher"
    compare = (f"{gate.metric} is {value:g}, @{gate.alias} (version {version}) has {other:g} "
               f"({word} is better)")  # fmt: skip
    if better:
        return {**out, "reason": compare}
    return {**out, "promoted": False, "reason": f"{compare}: @{alias} stays on its version"}
