"""How a firing ended, as one record: ``result`` and the facts behind it.

``result`` is one of ``promoted``, ``not-promoted`` (published, the alias stayed: ``metric``,
``value``, ``incumbent``, ``incumbent_version``), ``published`` (no ``--promote``),
``refused`` (a gate or the deployability check: ``gate``, nothing published), ``succeeded``
(no publish asked), ``run-failed``, ``cancelled``, ``interrupted``, ``error`` (the run could
not be queued or the publish failed), ``skipped`` (missed slots, catch-up ``skip``).
"""

from __future__ import annotations

from typing import Any

ENDED = ("failed", "cancelled", "interrupted")


def of_run(run: dict[str, Any], published: dict[str, Any] | None) -> dict[str, Any]:
    """The outcome of a finished run and its publish (``published``: the publish result,
    ``{"error", "checks"}`` when refused, None when none was asked)."""
    status = run.get("status")
    out: dict[str, Any] = {"run_id": run.get("id"), "run_status": status,
                           "metrics": run.get("metrics") or {}}  # fmt: skip
    if status != "succeeded":
        result = "run-failed" if status == "failed" else str(status)
        return {**out, "result": result, "reason": _run_error(run)}
    if published is None:
        return {**out, "result": "succeeded", "reason": "the run succeeded (no publish asked)"}
    if "error" in published:
        gates = ((published.get("checks") or {}).get("gates")) or []
        failed = next((g for g in gates if not g.get("passed")), None)
        deploy = (published.get("checks") or {}).get("deployability") or {}
        if failed is None and deploy.get("ok") is False:
            failed = {"gate": "deployability"}
        result = "refused" if failed is not None or published.get("refused") else "error"
        return {**out, "result": result, "reason": published["error"],
                "gate": failed.get("gate") if failed else None}  # fmt: skip
    out.update(name=published.get("name"), version=published.get("version"),
               uri=published.get("uri"), aliases=published.get("aliases") or [])  # fmt: skip
    promotion = published.get("promotion")
    if promotion is None:
        return {**out, "result": "published", "promoted": None,
                "reason": f"published version {published.get('version')}"}  # fmt: skip
    keys = ("alias", "metric", "value", "incumbent", "incumbent_version")
    return {
        **out, **{k: promotion.get(k) for k in keys},
        "result": "promoted" if promotion["promoted"] else "not-promoted",
        "promoted": bool(promotion["promoted"]), "reason": promotion.get("reason"),
    }  # fmt: skip


def not_queued(message: str) -> dict[str, Any]:
    """The run could not even be queued (notebook gone or broken, bad parameters)."""
    return {"result": "error", "run_id": None, "run_status": None, "reason": message}


def _run_error(run: dict[str, Any]) -> str:
    if run.get("error"):
        return str(run["error"])
    for name, step in (run.get("steps") or {}).items():
        error = step.get("error")
        if step.get("status") == "failed" and error:
            return f"step {name} failed: {error.get('ename')}: {error.get('evalue')}"
    return f"the run {run.get('status')}"


def line(outcome: dict[str, Any] | None) -> str:
    """One line for tables: ``promoted wine v3``, ``not-promoted: accuracy 0.8 vs 0.9``."""
    if not outcome:
        return "-"
    result = outcome.get("result")
    if result in ("promoted", "not-promoted"):
        if outcome.get("incumbent") is not None:
            return (f"{result} v{outcome.get('version')}: {outcome.get('metric')} "
                    f"{outcome.get('value'):g} vs {outcome.get('incumbent'):g} of "
                    f"v{outcome.get('incumbent_version')}")  # fmt: skip
        return f"{result} v{outcome.get('version')} @{outcome.get('alias')}"
    if result == "published":
        return f"published {outcome.get('name')} v{outcome.get('version')}"
    if result == "refused":
        return f"refused ({outcome.get('gate') or 'gate'}): {outcome.get('reason')}"
    return f"{result}: {outcome.get('reason')}" if outcome.get("reason") else str(result)
