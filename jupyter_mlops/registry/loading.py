"""Loading published models back as native Python objects.

:func:`load_native_from_dir` is the single way a model directory becomes an object: the
fresh-process deployability check and :func:`load_model` both use it. It needs no MLflow
(only PyYAML, skops or cloudpickle), which keeps the check process light.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, MlopsError

TRUSTED_TYPES_TAG = "mlops.skops_trusted_types"
FORMAT_TAG = "mlops.format"  # skops | cloudpickle
NATIVE_TAG = "mlops.artifact"  # the native model file, relative to the model folder
SHA256_TAG = "mlops.artifact_sha256"


class UntrustedModel(MlopsError):
    """The registry does not vouch for these model bytes (CLI exit 3, HTTP 409)."""

    exit_code = 3
    http_status = 409


def read_mlmodel(path: Path) -> dict[str, Any]:
    import yaml

    mlmodel = path / "MLmodel"
    if not mlmodel.is_file():
        raise FileNotFoundError(f"{path} is not an MLflow model (no MLmodel file)")
    return yaml.safe_load(mlmodel.read_text()) or {}


def native_spec(path: Path) -> tuple[str, Path, list[str] | None]:
    """(format, file, trusted types) of a model folder written by our publisher, from MLmodel."""
    conf = read_mlmodel(path)
    flavors = conf.get("flavors") or {}
    meta = (conf.get("metadata") or {}).get("jupyter_mlops") or {}
    sk = flavors.get("sklearn")
    if sk is not None and sk.get("serialization_format") == "skops":
        return "skops", path / sk["pickled_model"], sk.get("skops_trusted_types")
    if sk is not None:
        return "cloudpickle", path / sk["pickled_model"], None
    if meta.get("native"):
        return "cloudpickle", path / meta["native"], None
    raise FileNotFoundError(f"{path} is not a model folder written by jupyter-mlops")


def load_native_from_dir(path: str | Path, trusted_types: list[str] | None = None) -> Any:
    """The native object in an MLflow model directory, trusting what MLmodel says (use only
    for folders you wrote; :func:`load_model` checks the registry's record instead).
    Other MLflow models load through ``mlflow.pyfunc.load_model``."""
    from ..kernel_models import load_native

    path = Path(path)
    try:
        kind, file, listed = native_spec(path)
    except FileNotFoundError:
        if not (path / "MLmodel").is_file():
            raise
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(str(path))
    return load_native(kind, file, trusted_types if trusted_types is not None else listed)


_REF = re.compile(r"^(?:models:/)?(?P<name>[^@]+?)(?:/(?P<version>\d+)|@(?P<alias>[^/@]+))?$")


def parse_model_ref(
    ref: str, version: int | str | None = None, alias: str | None = None
) -> tuple[str, str | None, str | None]:
    """``NAME``, ``NAME@ALIAS``, ``models:/NAME/3`` or ``models:/NAME@ALIAS`` → (name,
    version, alias)."""
    match = _REF.match(ref or "")
    if not match:
        raise InvalidInput(f"{ref!r}: expected NAME, NAME@ALIAS or models:/NAME/VERSION")
    name, ref_version, ref_alias = match.group("name", "version", "alias")
    version = str(version) if version is not None else ref_version
    alias = alias or ref_alias
    if version is not None and alias is not None:
        raise InvalidInput("give a version or an alias, not both")
    return name, version, alias


def load_model(
    name: str,
    version: int | str | None = None,
    alias: str | None = None,
    *,
    store: str | None = None,
    registry_uri: str | None = None,
    allow_pickle: bool = False,
) -> Any:
    """Load a published model as its native object (the estimator for sklearn models).

    ``name`` may be ``NAME``, ``NAME@ALIAS``, ``models:/NAME/VERSION`` or
    ``models:/NAME@ALIAS``; without version or alias the newest version is loaded. The store
    is found from the current directory like the CLI finds it (nearest ``.mlops`` above).
    Only what the registry recorded at publish is trusted: the model file must match the
    version's sha256 tag, skops loads trust only the tagged types, and a version the
    registry does not describe (not published by jupyter-mlops) is refused unless
    ``allow_pickle=True`` (loading it may run arbitrary code). :class:`UntrustedModel`
    otherwise.
    """
    import hashlib

    from ..kernel_models import loads_native
    from ..settings import locate_registry, locate_store
    from .catalog import resolve_version
    from .client import mlflow_errors, open_registry_client, require_registry

    model_name, version, alias = parse_model_ref(name, version, alias)
    location = locate_store(store, how_explicit="store=")  # from the kernel's current directory
    uri = locate_registry(location.path, registry_uri).uri
    require_registry(uri, location.path, model_name)
    client = open_registry_client(uri)
    mv = resolve_version(client, model_name, version, alias)
    label = f"model {mv.name!r} version {mv.version}"
    tags = mv.tags or {}
    with mlflow_errors():
        local = _local_copy(client, uri, mv)
    fmt = tags.get(FORMAT_TAG)
    if fmt is None:
        if not allow_pickle:
            raise UntrustedModel(
                f"{label}: the registry does not record its format and digest (it was not "
                "published by this version of jupyter-mlops), so loading it could run arbitrary "
                "code; pass allow_pickle=True only if you trust everyone who can write to this "
                "registry and its artifact store"
            )
        trusted = tags.get(TRUSTED_TYPES_TAG)
        return load_native_from_dir(local, json.loads(trusted) if trusted is not None else None)
    relative, expected = tags.get(NATIVE_TAG, ""), tags.get(SHA256_TAG, "")
    file = (local / relative).resolve()
    if (
        fmt not in ("skops", "cloudpickle")
        or not expected
        or not file.is_relative_to(local.resolve())
    ):
        raise UntrustedModel(f"{label}: its registry tags are incomplete or invalid; not loaded")
    data = file.read_bytes() if file.is_file() else b""
    if hashlib.sha256(data).hexdigest() != expected:  # checked on the very bytes loaded
        raise UntrustedModel(
            f"{label}: its model file {relative} does not match the sha256 recorded in the "
            "registry at publish (it was modified or replaced after publishing); not loaded"
        )
    return loads_native(fmt, data, json.loads(tags.get(TRUSTED_TYPES_TAG) or "[]"))


def _local_copy(client: Any, uri: str, mv: Any) -> Path:
    """A local directory with the version's artifacts (the files themselves when local)."""
    from urllib.parse import unquote, urlparse

    location = client.get_model_version_download_uri(mv.name, mv.version)
    parsed = urlparse(location)
    if parsed.scheme in ("", "file") and Path(unquote(parsed.path)).is_dir():
        return Path(unquote(parsed.path))
    import mlflow.artifacts

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=uri))
