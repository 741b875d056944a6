"""Reading the registry (models, versions, aliases, history) and moving aliases."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ..errors import InvalidInput, NotFound
from .client import mlflow_errors, registry_lock
from .history import read_history, record_event

METRICS_TAG = "mlops.metrics"
RUN_ID_TAG = "mlops.run_id"


def _ms_to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _where(client: Any) -> str:
    uri = getattr(client, "_registry_uri", None)
    return f" in the registry {uri}" if uri else ""


def get_registered_model(client: Any, name: str) -> Any:
    with mlflow_errors(not_found=f"no registered model {name!r}{_where(client)}"):
        return client.get_registered_model(name)


def resolve_version(
    client: Any, name: str, version: str | int | None = None, alias: str | None = None
) -> Any:
    """The ModelVersion for a version number, an alias, or (neither) the newest version."""
    if alias is not None:
        if alias not in (get_registered_model(client, name).aliases or {}):
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        with mlflow_errors(not_found=f"model {name!r} has no alias {alias!r}"):
            return client.get_model_version_by_alias(name, alias)
    if version is not None:
        get_registered_model(client, name)
        with mlflow_errors(not_found=f"model {name!r} has no version {version}"):
            return client.get_model_version(name, str(version))
    versions = _versions(client, name)
    if not versions:
        raise NotFound(f"no registered model {name!r}{_where(client)}")
    return versions[0]


def _versions(client: Any, name: str) -> list[Any]:
    if "'" in name:
        raise InvalidInput(f"model name {name!r} must not contain a quote")
    with mlflow_errors():
        found = client.search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda mv: int(mv.version), reverse=True)


def version_metrics(client: Any, mv: Any) -> dict[str, float]:
    """Metrics recorded on a version (our tag), else those of its MLflow run."""
    if METRICS_TAG in mv.tags:
        return json.loads(mv.tags[METRICS_TAG])
    if mv.run_id:
        with mlflow_errors():
            return dict(client.get_run(mv.run_id).data.metrics)
    return {}


def describe_version(client: Any, mv: Any, aliases: list[str]) -> dict[str, Any]:
    return {
        "version": int(mv.version),
        "created_at": _ms_to_iso(mv.creation_timestamp),
        "status": mv.status,
        "aliases": sorted(aliases),
        "metrics": version_metrics(client, mv),
        "run_id": mv.tags.get(RUN_ID_TAG),
        "mlflow_run_id": mv.run_id,
        "flavor": mv.tags.get("mlops.flavor"),
        "source": mv.source,
        "uri": f"models:/{mv.name}/{mv.version}",
    }


def describe_model(client: Any, name: str) -> dict[str, Any]:
    rm = get_registered_model(client, name)
    aliases = dict(rm.aliases or {})
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    versions = [describe_version(client, mv, by_version.get(str(mv.version), []))
                for mv in _versions(client, name)]  # fmt: skip
    return {
        "name": rm.name,
        "description": rm.description or "",
        "aliases": {a: int(v) for a, v in sorted(aliases.items())},
        "latest_version": versions[0]["version"] if versions else None,
        "versions": versions,
    }


def list_models(client: Any, name: str | None = None) -> list[dict[str, Any]] | dict[str, Any]:
    """One model (dict) or all of them (list, newest activity first); versions newest first."""
    if name is not None:
        return describe_model(client, name)
    with mlflow_errors():
        models = client.search_registered_models(max_results=1000)
    models = sorted(models, key=lambda rm: rm.last_updated_timestamp or 0, reverse=True)
    return [describe_model(client, rm.name) for rm in models]


def current_alias_version(client: Any, name: str, alias: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except Exception:  # noqa: BLE001 - alias not set (or model missing): no previous holder
        return None


def set_alias(client: Any, uri: str, name: str, alias: str, version: int | str) -> dict:
    """Point ``alias`` at ``version`` and record the move in the history."""
    if not str(version).isdigit():
        raise InvalidInput(f"version must be a number, not {version!r}")
    get_registered_model(client, name)
    with mlflow_errors(not_found=f"model {name!r} has no version {version}"):
        client.get_model_version(name, str(version))
    with registry_lock(uri), mlflow_errors():
        before = current_alias_version(client, name, alias)
        client.set_registered_model_alias(name, alias, str(version))
        return record_event(
            client, name, "alias-set", alias=alias, from_version=before, to_version=int(version)
        )


def delete_alias(client: Any, uri: str, name: str, alias: str) -> dict:
    """Remove ``alias`` (it must exist) and record it in the history."""
    get_registered_model(client, name)
    with registry_lock(uri), mlflow_errors():
        before = current_alias_version(client, name, alias)
        if before is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        client.delete_registered_model_alias(name, alias)
        return record_event(client, name, "alias-delete", alias=alias, from_version=before)


def history(client: Any, name: str) -> list[dict[str, Any]]:
    return read_history(dict(get_registered_model(client, name).tags or {}))


def version_cards(client: Any, name: str) -> dict[int, str]:
    """``{version: model card (Markdown)}`` of ``name`` (the versions' descriptions)."""
    return {int(mv.version): mv.description or "" for mv in _versions(client, name)}
