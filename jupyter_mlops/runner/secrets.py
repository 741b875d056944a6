"""Secret parameters: kept out of everything a run writes.

A parameter is secret when the parameters cell carries the tag ``secret:NAME``. Its value
(the notebook's default, or one given for the run; ``env:VAR`` takes it from the environment
variable VAR) reaches the kernel through a private file that the step reads and deletes, never
through papermill's injected cell. The store, the executed notebooks, the logs, the report, the
MLflow run and the model card show :data:`SECRET` instead, and the cache key holds an HMAC of
the value under a key private to the store (``<store>/secret.key``, owner-only).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInput

SECRET = "<secret>"
KEY_FILE = "secret.key"
MIN_SCRUB = 4  # shorter values are not searched for in output files (they would match anywhere)


def secret_names(declared: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The names of the pipeline's secret parameters."""
    return {name for name, spec in declared.items() if spec.get("secret")}


def from_environment(declared: Mapping[str, Mapping[str, Any]], values: dict[str, Any]) -> None:
    """Replace ``env:VAR`` values of secret parameters by the environment variable's value."""
    for name in sorted(secret_names(declared)):
        value = values.get(name)
        if isinstance(value, str) and value.startswith("env:"):
            var = value[4:]
            if var not in os.environ:
                raise InvalidInput(
                    f"secret parameter {name!r}: environment variable {var!r} is not set "
                    f"(export {var}=... before the run)"
                )
            values[name] = os.environ[var]


def redacted(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``values`` with every secret shown as :data:`SECRET`."""
    hidden = set(names)
    return {k: (SECRET if k in hidden else v) for k, v in values.items()}


def store_key(root: str | os.PathLike[str]) -> bytes:
    """The store's private HMAC key (created owner-only on first use)."""
    path = Path(root) / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex())
    return key


def keyed_hash(key: bytes, value: Any) -> str:
    """What a secret value contributes to a cache key."""
    blob = json.dumps(value, sort_keys=True).encode("utf-8")
    return "hmac-sha256:" + hmac.new(key, blob, hashlib.sha256).hexdigest()


def key_parameters(
    values: Mapping[str, Any], hidden: Mapping[str, Any], root: str | os.PathLike[str]
) -> dict[str, Any]:
    """``values`` as cache keys see them: secrets as keyed hashes."""
    if not hidden:
        return dict(values)
    key = store_key(root)
    return {k: (keyed_hash(key, v) if k in hidden else v) for k, v in values.items()}


def write_secrets_file(directory: str | os.PathLike[str], step: str, values: dict[str, Any]) -> str:
    """A private file holding a step's secret values, read and deleted by the kernel."""
    path = Path(directory) / f"secrets-{step}-{secrets.token_hex(4)}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(values, fh)
    return str(path)


def _forms(values: Iterable[Any]) -> list[str]:
    """The spellings of each secret to look for: as is, JSON-escaped, repr-escaped."""
    found: set[str] = set()
    for value in values:
        if not isinstance(value, str) or len(value) < MIN_SCRUB:
            continue
        found |= {value, json.dumps(value)[1:-1], repr(value)[1:-1]}
    return sorted(found, key=len, reverse=True)


def scrub_text(text: str, values: Iterable[Any]) -> str:
    """``text`` with every secret value replaced by :data:`SECRET`."""
    return _replace(text, _forms(values))


def _replace(text: str, forms: list[str]) -> str:
    for form in forms:
        text = text.replace(form, SECRET)
    return text


def scrub_files(paths: Iterable[str | os.PathLike[str]], values: Iterable[Any]) -> None:
    """Rewrite (atomically) the files among ``paths`` that contain a secret value."""
    forms = _forms(values)
    if not forms:
        return
    for path in map(Path, paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        clean = _replace(text, forms)
        if clean != text:
            tmp = path.with_name(f".{path.name}.scrub")
            tmp.write_text(clean, encoding="utf-8")
            os.replace(tmp, path)
