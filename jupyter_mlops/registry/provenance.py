"""Where a model came from: git state of the notebook, who published, MLflow run tags."""

from __future__ import annotations

import getpass
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..gitinfo import git_info

__all__ = ["git_info", "run_tags", "utcnow", "who"]


def utcnow() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def who() -> str:
    """``user@host`` (``$JUPYTER_MLOPS_USER`` overrides the user)."""
    try:
        user = os.environ.get("JUPYTER_MLOPS_USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def run_tags(record: dict[str, Any], git: dict[str, Any] | None, name: str) -> dict[str, str]:
    """Tags of the MLflow run that links a version to its pipeline run."""
    notebook = record.get("notebook") or ""
    tags = {
        "mlflow.runName": f"{Path(notebook).stem or 'run'}-{record['id']}",
        "mlflow.source.name": notebook,
        "mlflow.source.type": "NOTEBOOK",
        "mlflow.user": who().split("@")[0],
        "mlops.run_id": str(record["id"]),
        "mlops.notebook": notebook,
        "mlops.notebook_sha256": str(record.get("notebook_sha256") or ""),
        "mlops.registered_model": name,
    }
    if git:
        tags["mlflow.source.git.commit"] = git["commit"]
        tags["mlops.git_commit"] = git["commit"]
        tags["mlops.git_dirty"] = str(git["dirty"]).lower()
    for key in ("model", "example"):
        if record.get(key):
            tags[f"mlops.{key}_digest"] = Path(record[key]["artifact"]).name
    return tags
