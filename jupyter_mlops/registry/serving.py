"""Serving a published version over HTTP with MLflow's own model server.

:func:`prepare` checks everything a user can get wrong before a server starts: the version
exists in this project's registry (alias resolved to its number), the registry vouches for
the model's bytes (the same sha256 check as :func:`~jupyter_mlops.registry.loading.load_model`),
the full ``mlflow`` package is installed, and the port is free. :func:`command` is then the
``mlflow models serve`` command line and environment (``--env-manager local``: the model runs
with this Python's packages, nothing is downloaded).
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInput, MlopsError, NotFound

EXAMPLE_FILE = "serving_input_example.json"  # written by MLflow next to MLmodel


class MissingServer(MlopsError):
    """MLflow's model server is not installed (only ``mlflow-skinny`` is)."""


@dataclass(frozen=True)
class Served:
    """A version that passed the checks: what ``mlflow models serve`` gets."""

    name: str
    version: str
    alias: str | None
    registry_uri: str
    model_dir: Path

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def example(self) -> str:
        """The request body MLflow stored for this version's example input (JSON)."""
        file = self.model_dir / EXAMPLE_FILE
        if not file.is_file():
            raise NotFound(
                f"model {self.name!r} version {self.version} has no stored example input "
                "(its run had no example: tag)"
            )
        return file.read_text()


def prepare(ref: str, store: Path, registry_uri: str, *, allow_pickle: bool = False) -> Served:
    """Resolve ``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION`` in the registry at ``registry_uri``
    and check the registry vouches for the model file (:class:`NotFound`, exit 2, naming the
    registry; :class:`~jupyter_mlops.registry.loading.UntrustedModel`, exit 3)."""
    from .catalog import resolve_version
    from .client import mlflow_errors, open_registry_client, require_registry
    from .loading import FORMAT_TAG, NATIVE_TAG, SHA256_TAG, UntrustedModel, _local_copy

    name, version, alias = _parse(ref)
    require_registry(registry_uri, store, name)
    _fast_exists(registry_uri, name, version, alias)  # a typo fails before MLflow is imported
    client = open_registry_client(registry_uri)
    try:
        mv = resolve_version(client, name, version, alias)
    except NotFound as exc:
        message = str(exc)
        if registry_uri not in message:
            message += f" in the registry {registry_uri}"
        raise NotFound(message) from None
    with mlflow_errors():
        local = _local_copy(client, registry_uri, mv)
    tags = mv.tags or {}
    label = f"model {name!r} version {mv.version}"
    if tags.get(FORMAT_TAG) is None:
        if not allow_pickle:
            raise UntrustedModel(
                f"{label}: the registry does not record its format and digest (it was not "
                "published by jupyter-mlops), so serving it could run arbitrary code; pass "
                "--allow-pickle only if you trust everyone who can write to this registry"
            )
    else:
        file = (local / tags.get(NATIVE_TAG, "")).resolve()
        data = file.read_bytes() if file.is_file() else b""
        if hashlib.sha256(data).hexdigest() != tags.get(SHA256_TAG):
            raise UntrustedModel(
                f"{label}: its model file does not match the sha256 recorded in the registry "
                "at publish (modified after publishing); not served"
            )
    return Served(name, str(mv.version), alias, registry_uri, local)


def _fast_exists(uri: str, name: str, version: str | None, alias: str | None) -> None:
    """:class:`NotFound` naming the registry when an embedded registry lacks the version."""
    from . import fastread

    missing = None
    try:
        with fastread.connect(uri) as db:
            if not fastread.model_exists(db, name):
                missing = f"no registered model {name!r}"
            elif version is not None and not fastread.version_exists(db, name, int(version)):
                missing = f"model {name!r} has no version {version}"
            elif alias is not None and fastread.alias_holder(db, name, alias) is None:
                missing = f"model {name!r} has no alias {alias!r}"
    except fastread.Unavailable:
        return  # a server, or a schema revision we do not know: MLflow answers
    if missing:
        raise NotFound(f"{missing} in the registry {uri}")


def _parse(ref: str) -> tuple[str, str | None, str | None]:
    from .loading import parse_model_ref

    if not ref.startswith("models:/") and "/" in ref:
        name, _, number = ref.rpartition("/")
        if not number.isdigit():
            raise InvalidInput(f"{ref!r}: expected NAME, NAME@ALIAS or NAME/VERSION")
        return parse_model_ref(name, version=number)
    return parse_model_ref(ref)


def require_server() -> None:
    """:class:`MissingServer` unless the full ``mlflow`` package (its scoring server) is here."""
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    try:
        version("mlflow")
        missing = find_spec("uvicorn") is None or find_spec("fastapi") is None
    except PackageNotFoundError:
        missing = True
    if missing:
        raise MissingServer(
            "serving needs the full mlflow package (only mlflow-skinny is installed); "
            "install it with: pip install 'jupyter-mlops[serve]'"
        )


def check_port(host: str, port: int) -> None:
    """:class:`InvalidInput` when ``host:port`` cannot be bound (in use, bad address)."""
    if not 0 < port < 65536:
        raise InvalidInput(f"--port {port}: expected a port number from 1 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            hint = "; choose another with --port" if exc.errno == errno.EADDRINUSE else ""
            raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None


def command(
    served: Served, host: str, port: int, workers: int = 1
) -> tuple[list[str], dict[str, str]]:
    """``python -m mlflow models serve`` for ``served``, and its environment: MLflow's
    tracking and registry URIs point at our registry; this Python's ``bin`` comes first on
    ``PATH`` (MLflow starts ``uvicorn`` by name)."""
    argv = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", served.uri,
        "--env-manager", "local", "--host", host, "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = served.registry_uri
    env["MLFLOW_REGISTRY_URI"] = served.registry_uri
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(filter(None, [bindir, env.get("PATH")]))
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return argv, env


def describe(served: Served, host: str, port: int) -> str:
    """One line for the user: what is served where, and how to ask it."""
    held = f" (@{served.alias})" if served.alias else ""
    shown = f"[{host}]" if ":" in host else host
    return (
        f"serving {served.uri}{held} from {served.registry_uri} at http://{shown}:{port} "
        "(POST /invocations, GET /ping; Ctrl-C stops)"
    )
