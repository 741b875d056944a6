"""The public run record: what ``--json``, ``show --json`` and ``Run.to_dict()`` return."""

from __future__ import annotations

from typing import Any

PUBLIC_KEYS = (
    "id",
    "notebook",
    "status",
    "error",  # why the run as a whole failed (could not start, process died, cluster lost)
    "parameters",
    "started_at",
    "finished_at",
    "duration_s",
    "steps",
    "metrics",
    "model",
    "example",
    "notebook_sha256",
    "report",
    "run_dir",
    "git",
)
STEP_KEYS = ("status", "duration_s", "notebook", "error", "cached_from", "reason", "outputs")
MODEL_KEYS = ("step", "variable", "artifact")


def public_record(record: dict[str, Any]) -> dict[str, Any]:
    """The documented run JSON (plus a few keys scripts find useful) from a store record.

    Idempotent: the public record of a public record is itself.
    """
    out = {key: record.get(key) for key in PUBLIC_KEYS}
    out["steps"] = {
        name: {k: step.get(k) for k in STEP_KEYS} for name, step in record["steps"].items()
    }
    if out["model"]:
        out["model"] = {k: out["model"][k] for k in MODEL_KEYS}
    return out
