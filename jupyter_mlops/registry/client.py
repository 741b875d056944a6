"""Lazy MLflow access: quiet imports, one-time SQLite creation under a lock, error mapping.

SQLite registries are created (and migrated) exactly once, under an ``fcntl`` lock on a file
next to the database, because several MLflow processes migrating a fresh database at once
crash in alembic. Registry writes to a local SQLite registry are also serialized under that
lock, so concurrent publishes never see "database is locked" and alias moves are atomic.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..errors import InvalidInput, MlopsError, NotFound
from .fastread import require_registry  # noqa: F401 - re-exported

EXPERIMENT_NAME = "jupyter-mlops"
_READY_SUFFIX = ".ready"
_LOCK_SUFFIX = ".lock"


class RegistryError(MlopsError):
    """The registry could not be reached or refused an operation (exit 1)."""

    exit_code = 1
    http_status = 502


# MLflow settings we change, as new defaults: an environment variable the user set still wins
_QUIET_SETTINGS = {
    "MLFLOW_DISABLE_TELEMETRY": True,
    "MLFLOW_ENABLE_ASYNC_LOGGING": False,
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": False,
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": True,  # keep --json clean
}


def quiet_mlflow() -> None:
    """Silence MLflow's INFO chatter, progress bars and telemetry without touching the host's
    ``os.environ`` (a server's environment is not ours to change): MLflow reads each setting
    through an object whose default we replace."""
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # our cloudpickle use is documented
    for name in ("mlflow", "alembic", "mlflow.store.db.utils"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import mlflow.environment_variables as settings

    for name, value in _QUIET_SETTINGS.items():
        variable = getattr(settings, name, None)
        if variable is not None:
            variable.default = value
    with contextlib.suppress(Exception):  # telemetry is decided at import: decide again
        from mlflow.telemetry.client import set_telemetry_client

        set_telemetry_client()


def import_mlflow() -> Any:
    """Import mlflow (≈1 s, only when a registry operation needs it)."""
    quiet_mlflow()
    import mlflow

    return mlflow


def sqlite_path(uri: str) -> Path | None:
    """The database file of a local ``sqlite:///`` URI, else ``None``."""
    if not uri.startswith("sqlite:"):
        return None
    path = unquote(urlparse(uri).path)
    path = path[1:] if path.startswith("/") else path  # sqlite:///rel.db, sqlite:////abs.db
    if not path or path == ":memory:":
        return None
    return Path(path).absolute()


def artifact_root(uri: str) -> str | None:
    """Where artifacts go for a local SQLite registry (``<dir>/models``); ``None`` = server's."""
    db = sqlite_path(uri)
    return (db.parent / "models").as_uri() if db is not None else None


@contextlib.contextmanager
def registry_lock(uri: str) -> Iterator[None]:
    """Exclusive lock for a local SQLite registry; no-op for servers (they serialize)."""
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(str(db) + _LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InvalidInput(
            f"cannot use the registry at {uri}: {exc.strerror or exc} "
            f"({db.parent}); check --registry-uri / JUPYTER_MLOPS_REGISTRY_URI"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock; a killed process releases it too


def _schema_ready(uri: str) -> bool:
    db = sqlite_path(uri)
    return db is None or (Path(str(db) + _READY_SUFFIX).exists() and db.exists())


_CLIENTS: dict[str, Any] = {}


def open_client(uri: str) -> Any:
    """An ``MlflowClient`` for tracking and registry at ``uri``.

    A local SQLite registry is created/migrated once, under the lock, by whichever process
    gets there first (MlflowClient opens its stores eagerly, so it is built under the lock).
    """
    if uri in _CLIENTS:
        return _CLIENTS[uri]
    import_mlflow()
    from mlflow import MlflowClient

    with mlflow_errors():
        if _schema_ready(uri):
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        else:
            with registry_lock(uri):
                client = MlflowClient(tracking_uri=uri, registry_uri=uri)
                if not _schema_ready(uri):
                    client.search_experiments(max_results=1)  # tracking tables
                    client.search_registered_models(max_results=1)  # registry tables
                    Path(str(sqlite_path(uri)) + _READY_SUFFIX).write_text("ok\n")
    _CLIENTS[uri] = client
    return client


class _RegistryOnly:
    """MLflow's registry client, without the tracking store ``MlflowClient`` builds at start
    (about half of its start-up); tracking methods (``get_run``) fall through to the full
    client, built on first use."""

    def __init__(self, uri: str, inner: Any) -> None:
        self._registry_uri = uri
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if hasattr(self._inner, name):
            return getattr(self._inner, name)
        return getattr(open_client(self._registry_uri), name)


def open_registry_client(uri: str) -> Any:
    """A client for registry operations (models, versions, aliases, tags) on an existing
    registry; the full :func:`open_client` when the registry must be created first or when
    MLflow's registry client is not available."""
    if uri in _CLIENTS:
        return _CLIENTS[uri]
    if not _schema_ready(uri):
        return open_client(uri)
    import_mlflow()
    try:
        from mlflow.tracking._model_registry.client import ModelRegistryClient
    except ImportError:  # a future MLflow without it: the public client
        return open_client(uri)
    with mlflow_errors():
        return _RegistryOnly(uri, ModelRegistryClient(uri, uri))


def error_code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", "") or "")


@contextlib.contextmanager
def mlflow_errors(not_found: str | None = None) -> Iterator[None]:
    """Turn MLflow and connection errors into one-line :class:`MlopsError` messages."""
    try:
        yield
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001 - classify by MLflow error code / type
        code = error_code(exc)
        message = str(getattr(exc, "message", None) or exc).strip().splitlines()[0]
        if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            raise NotFound(not_found or message) from exc
        if code == "INVALID_PARAMETER_VALUE":
            raise InvalidInput(message) from exc
        if type(exc).__name__ == "MlflowException" or "Connection" in type(exc).__name__:
            raise RegistryError(f"registry: {message}") from exc
        raise


def ensure_experiment(client: Any, uri: str) -> str:
    """The id of the ``jupyter-mlops`` experiment (created with artifacts in the store)."""
    exp = client.get_experiment_by_name(EXPERIMENT_NAME)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(EXPERIMENT_NAME, artifact_location=artifact_root(uri))
    except Exception as exc:
        if error_code(exc) not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
        return client.get_experiment_by_name(EXPERIMENT_NAME).experiment_id


def ensure_registered_model(client: Any, name: str) -> None:
    """Create the registered model ``name`` unless it exists (race-safe)."""
    try:
        client.create_registered_model(name)
    except Exception as exc:
        if error_code(exc) not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
