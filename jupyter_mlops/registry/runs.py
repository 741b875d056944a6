"""Reading pipeline run records from the run store, and deciding if one can be published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound


def _open_store(store: Path) -> Any:
    """The runner's store, opened read-only (reading creates and writes nothing)."""
    from ..runner.store import Store

    return Store.open_existing(store)


def load_run_record(store: Path, run_id: str) -> dict[str, Any]:
    """The run record of ``run_id`` (raises :class:`NotFound`)."""
    with _open_store(store) as db:
        return db.get_run(run_id)


def resolve_run(store: Path, run_id: str, notebook: str | None = None) -> dict[str, Any]:
    """``run_id`` or ``latest`` (newest succeeded run, optionally of ``notebook``)."""
    if not run_id:
        raise InvalidInput("a run id (or 'latest') is required")
    if run_id != "latest":
        return load_run_record(store, run_id)
    nb = str(Path(notebook).expanduser().resolve()) if notebook else None
    with _open_store(store) as db:
        record = db.latest_run(nb, status="succeeded")
    if record is None:
        where = f" of {notebook}" if notebook else ""
        raise NotFound(f"no succeeded run{where} in store {store}")
    return record


def check_publishable(record: dict[str, Any]) -> None:
    """A run can be published only if it succeeded and captured a model that still exists."""
    run_id = record.get("id")
    if record.get("status") != "succeeded":
        raise InvalidInput(
            f"run {run_id} is {record.get('status')}; only succeeded runs can be published"
        )
    model = record.get("model")
    if not model:
        raise InvalidInput(f"run {run_id} has no model: tag the training step with model:VARIABLE")
    if not Path(model["artifact"]).is_file():
        raise NotFound(f"run {run_id}: model artifact {model['artifact']} is missing")
