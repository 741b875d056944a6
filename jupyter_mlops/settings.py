"""Where the store and the registry live, resolved the same way by every surface."""

from __future__ import annotations

import os
from pathlib import Path

STORE_ENV = "JUPYTER_MLOPS_STORE"
REGISTRY_ENV = "JUPYTER_MLOPS_REGISTRY_URI"
DEFAULT_STORE = ".mlops"


def resolve_store(store: str | os.PathLike[str] | None = None, cwd: str | None = None) -> Path:
    """The store folder: the explicit value, else ``$JUPYTER_MLOPS_STORE``, else ``./.mlops``."""
    value = store or os.environ.get(STORE_ENV) or DEFAULT_STORE
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(cwd or os.getcwd()) / path
    return path.resolve()


def resolve_registry_uri(store: Path, registry_uri: str | None = None) -> str:
    """Registry precedence: flag > ``$JUPYTER_MLOPS_REGISTRY_URI`` > ``$MLFLOW_TRACKING_URI`` >
    the embedded SQLite registry inside the store."""
    return (
        registry_uri
        or os.environ.get(REGISTRY_ENV)
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{store / 'registry.db'}"
    )
