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

from ..errors import InvalidInput

TRUSTED_TYPES_TAG = "mlops.skops_trusted_types"


def read_mlmodel(path: Path) -> dict[str, Any]:
    import yaml

    mlmodel = path / "MLmodel"
    if not mlmodel.is_file():
        raise FileNotFoundError(f"{path} is not an MLflow model (no MLmodel file)")
    return yaml.safe_load(mlmodel.read_text()) or {}


def load_native_from_dir(path: str | Path, trusted_types: list[str] | None = None) -> Any:
    """The native object saved in an MLflow model directory.

    sklearn flavor in skops format: ``skops.io.load`` trusting ``trusted_types`` (default: the
    list in MLmodel); our pyfunc wrapper: the cloudpickled object; any other MLflow model:
    ``mlflow.pyfunc.load_model``.
    """
    path = Path(path)
    conf = read_mlmodel(path)
    flavors = conf.get("flavors") or {}
    meta = (conf.get("metadata") or {}).get("jupyter_mlops") or {}
    sk = flavors.get("sklearn")
    if sk is not None:
        file = path / sk["pickled_model"]
        fmt = sk.get("serialization_format", "pickle")
        if fmt == "skops":
            import skops.io

            trusted = trusted_types if trusted_types is not None else sk.get("skops_trusted_types")
            return skops.io.load(file, trusted=list(trusted or []))
        return _unpickle(file)
    if meta.get("native"):
        return _unpickle(path / meta["native"])
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(path))


def _unpickle(file: Path) -> Any:
    import pickle

    import cloudpickle  # noqa: F401 - rebuilds classes pickled by value

    with open(file, "rb") as fh:
        return pickle.load(fh)


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
) -> Any:
    """Load a published model as its native object (the estimator for sklearn models).

    ``name`` may be ``NAME``, ``NAME@ALIAS``, ``models:/NAME/VERSION`` or
    ``models:/NAME@ALIAS``; without version or alias the newest version is loaded. The store
    is found from the current directory like the CLI finds it (nearest ``.mlops`` above).
    """
    from ..settings import locate_registry, locate_store
    from .catalog import resolve_version
    from .client import mlflow_errors, open_registry_client, require_registry

    model_name, version, alias = parse_model_ref(name, version, alias)
    location = locate_store(store, how_explicit="store=")  # from the kernel's current directory
    uri = locate_registry(location.path, registry_uri).uri
    require_registry(uri, location.path, model_name)
    client = open_registry_client(uri)
    mv = resolve_version(client, model_name, version, alias)
    trusted = mv.tags.get(TRUSTED_TYPES_TAG)
    with mlflow_errors():
        local = _local_copy(client, uri, mv)
    return load_native_from_dir(local, json.loads(trusted) if trusted is not None else None)


def _local_copy(client: Any, uri: str, mv: Any) -> Path:
    """A local directory with the version's artifacts (the files themselves when local)."""
    from urllib.parse import unquote, urlparse

    location = client.get_model_version_download_uri(mv.name, mv.version)
    parsed = urlparse(location)
    if parsed.scheme in ("", "file") and Path(unquote(parsed.path)).is_dir():
        return Path(unquote(parsed.path))
    import mlflow.artifacts

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=uri))
