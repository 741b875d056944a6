"""Publish to the embedded SQLite registry without importing MLflow.

Importing MLflow costs ≈ 3 s of CPU, more than everything else a publish does. For a local
``sqlite:`` registry of a schema revision :mod:`.fastread` knows (whose ``jupyter-mlops``
experiment exists and keeps artifacts under ``file:``), a scikit-learn model saved in skops
format whose signature and example the kernel described (:mod:`..kernel_signature`), the
publisher writes what MLflow's own calls would: the model directory (MLmodel, environment
files, example), the run's files, then — in one transaction under the registry lock, only
after the deployability check passed — the run with its params, metrics and tags, the
logged model and its output link, the version with its tags and card, the history and the
aliases. Tests compare every row and file with the MLflow path's. Anything else (another
registry, another flavor, an example MLflow must describe) goes through MLflow;
``JUPYTER_MLOPS_PUBLISH_VIA_MLFLOW=1`` forces that.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import sqlite3
import time
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .fastread import WORKSPACE, Unavailable, connect
from .fastwrite import _record, _writable
from .requirements import pip_requirements

FORCE_MLFLOW_ENV = "JUPYTER_MLOPS_PUBLISH_VIA_MLFLOW"
EXPERIMENT_NAME = "jupyter-mlops"
_READY = 2  # MLflow's LoggedModelStatus.READY as stored
_MAX_FLOAT = 1.7976931348623157e308


def _mlflow_version() -> str | None:
    for dist in ("mlflow", "mlflow-skinny"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        return None if "dev" in version else version
    return None


def _package(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def experiment(uri: str) -> tuple[int, str] | None:
    """``(experiment id, artifact folder)`` when a publish to ``uri`` can skip MLflow."""
    if os.environ.get(FORCE_MLFLOW_ENV, "").lower() in ("1", "true", "yes"):
        return None
    if os.environ.get("MLFLOW_LOCK_MODEL_DEPENDENCIES", "").lower() in ("1", "true"):
        return None
    if _mlflow_version() is None:
        return None
    try:
        with connect(uri) as db:
            row = db.execute(
                "SELECT experiment_id, artifact_location FROM experiments WHERE name = ? AND "
                "lifecycle_stage = 'active' AND workspace = ?",
                (EXPERIMENT_NAME, WORKSPACE),
            ).fetchone()
    except (Unavailable, sqlite3.Error):
        return None
    if row is None or not str(row[1]).startswith("file:"):
        return None
    return int(row[0]), str(row[1]).rstrip("/")


def supports(native: dict[str, Any], has_example: bool) -> bool:
    """Whether the kernel's answer has all this path needs (else MLflow builds the model)."""
    if native.get("kind") != "skops":
        return False
    return not has_example or bool(native.get("described"))


def local_path(location: str) -> Path:
    """The folder of a ``file:`` artifact location."""
    return Path(unquote(urlparse(location).path))


def write_model_dir(
    native: dict[str, Any], path: Path, packages: dict[str, str] | None
) -> tuple[list[str], dict[str, Any] | None, dict[str, Any]]:
    """MLflow's sklearn model directory around the kernel's skops file (MLmodel without the
    run and model ids, which :func:`stamp` adds); returns (requirements, signature, MLmodel)."""
    import yaml

    from .flavors import META_KEY, SKLEARN, SKOPS_ARTIFACT

    versions = native.get("versions") or {}
    reqs = pip_requirements(packages, ["scikit-learn", "skops"], versions)
    mlflow_pin = f"mlflow=={_mlflow_version()}"
    pins = reqs if any(r.split("==")[0].lower() == "mlflow" for r in reqs) else [mlflow_pin, *reqs]
    path.mkdir(parents=True)
    shutil.copyfile(native["file"], path / SKOPS_ARTIFACT)
    described = native.get("described")
    here = platform.python_version()
    conf: dict[str, Any] = {
        "flavors": {
            "python_function": {
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.sklearn",
                "model_path": SKOPS_ARTIFACT,
                "predict_fn": "predict",
                "python_version": here,
            },
            SKLEARN: {
                "code": None,
                "pickled_model": SKOPS_ARTIFACT,
                "serialization_format": "skops",
                "sklearn_version": versions.get("scikit-learn"),
                "skops_trusted_types": list(native.get("trusted_types") or []) or None,
            },
        },
        "is_signature_from_type_hint": False,
        "metadata": {META_KEY: {"flavor": SKLEARN}},
        "mlflow_version": _mlflow_version(),
        "model_uuid": uuid.uuid4().hex,
        "prompts": None,
        "type_hint_from_example": False,
        "utc_time_created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    signature = None
    if described:
        signature = described["signature"]
        conf["signature"] = signature
        example = described["example"]
        conf["saved_input_example_info"] = example["info"]
        (path / "input_example.json").write_text(example["input"])
        (path / "serving_input_example.json").write_text(example["serving"])
    pip = _package("pip")
    conda = {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={here}", f"pip<={pip}" if pip else "pip", {"pip": pins}],
    }
    (path / "conda.yaml").write_text(yaml.safe_dump(conda, default_flow_style=False))
    (path / "requirements.txt").write_text("\n".join(pins))
    build = [f"{p}=={_package(p)}" if _package(p) else p for p in ("pip", "setuptools", "wheel")]
    env = {"python": native.get("python") or here, "build_dependencies": build,
           "dependencies": ["-r requirements.txt"]}  # fmt: skip
    (path / "python_env.yaml").write_text(
        yaml.safe_dump(env, sort_keys=False, default_flow_style=False)
    )
    return reqs, signature, conf


def stamp(path: Path, conf: dict[str, Any], run_id: str, model_id: str, location: str) -> None:
    """Write MLmodel with the run and logged-model ids, as ``log_model`` does."""
    import yaml

    full = {**conf, "artifact_path": location, "model_id": model_id, "run_id": run_id}
    (path / "MLmodel").write_text(yaml.safe_dump(full, default_flow_style=False))


def copy_tree(source: Path, target: Path) -> None:
    """Copy ``source``'s files into ``target`` (created), as the local artifact repo does."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, dirs_exist_ok=True)


def _metric(value: float) -> tuple[float, int]:
    if math.isnan(value):
        return 0.0, 1
    if math.isinf(value):
        return (_MAX_FLOAT if value > 0 else -_MAX_FLOAT), 0
    return float(value), 0


class Writer:
    """The registry rows of one publish, written in one transaction (see module doc)."""

    def __init__(self, uri: str, experiment_id: int) -> None:
        self.uri = uri
        self.experiment_id = experiment_id

    def write(
        self,
        run: dict[str, Any],
        logged: dict[str, Any],
        version: dict[str, Any],
        aliases: list[str],
        card: Any,
        decide: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Insert everything; ``card(version_number) -> str`` renders the description.
        ``decide(holder) -> dict`` (``--promote``, see ``publishing._Promotion``) decides in
        the transaction whether its alias moves too; ``extra``: fields of the history events.
        Returns ``{"version": N, "moves": [...], "promotion": dict | None}``. A database error (or a schema revision
        changed since the check) is a :class:`RegistryError` naming the registry; nothing is
        written then."""
        from .client import RegistryError

        try:
            with _writable(self.uri) as db:
                self._run(db, run)
                self._logged(db, logged, run)
                return self._version(db, version, run, logged, aliases, card, decide,
                                     extra or {})  # fmt: skip
        except (Unavailable, sqlite3.Error) as exc:
            raise RegistryError(
                f"cannot write to the registry {self.uri}: {exc}; no version was created "
                "(publish again, or set JUPYTER_MLOPS_PUBLISH_VIA_MLFLOW=1 to go through MLflow)"
            ) from None

    def _run(self, db: sqlite3.Connection, run: dict[str, Any]) -> None:
        rid = run["id"]
        db.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id, deleted_time) VALUES (?, ?, 'UNKNOWN', '', '', ?, "
            "'FINISHED', ?, ?, '', 'active', ?, ?, NULL)",
            (rid, run["tags"]["mlflow.runName"], run["user"], run["start"], run["end"],
             run["artifact_uri"], self.experiment_id),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
            [(k, v, rid) for k, v in run["tags"].items()],
        )
        db.executemany(
            "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
            [(k, v, rid) for k, v in run["params"].items()],
        )
        for key, raw in run["metrics"].items():
            value, is_nan = _metric(raw)
            row = (key, value, run["metric_time"], 0, is_nan, rid)
            db.execute(
                "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
            db.execute(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )

    def _logged(self, db: sqlite3.Connection, logged: dict[str, Any], run: dict) -> None:
        db.execute(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, "
            "creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, "
            "model_type, source_run_id, status_message) VALUES (?, ?, ?, ?, ?, ?, ?, "
            "'active', NULL, ?, NULL)",
            (logged["id"], self.experiment_id, logged["name"], logged["location"],
             logged["created"], logged["updated"], _READY, run["id"]),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) "
            "VALUES (?, ?, ?, ?)",
            [(logged["id"], self.experiment_id, k, v) for k, v in logged["tags"].items()],
        )
        db.execute(
            "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, "
            "destination_id, step) VALUES (?, 'RUN_OUTPUT', ?, 'MODEL_OUTPUT', ?, 0)",
            (uuid.uuid4().hex, run["id"], logged["id"]),
        )

    def _version(self, db, version, run, logged, aliases, card, decide=None,
                 extra=None) -> dict[str, Any]:  # fmt: skip
        extra = extra or {}
        name = version["name"]
        now = _ms()
        exists = db.execute(
            "SELECT 1 FROM registered_models WHERE workspace = ? AND name = ?", (WORKSPACE, name)
        ).fetchone()
        if exists is None:
            db.execute(
                "INSERT INTO registered_models (name, creation_time, last_updated_time, "
                "description, workspace) VALUES (?, ?, ?, NULL, ?)",
                (name, now, now, WORKSPACE),
            )
        else:
            db.execute(
                "UPDATE registered_models SET last_updated_time = ? WHERE workspace = ? AND "
                "name = ?",
                (now, WORKSPACE, name),
            )
        (top,) = db.execute(
            "SELECT MAX(version) FROM model_versions WHERE workspace = ? AND name = ?",
            (WORKSPACE, name),
        ).fetchone()
        number = (top or 0) + 1
        description = card(number)
        db.execute(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, "
            "description, user_id, current_stage, source, run_id, status, status_message, "
            "run_link, storage_location, workspace) VALUES (?, ?, ?, ?, ?, NULL, 'None', ?, ?, "
            "'READY', NULL, NULL, ?, ?)",
            (name, number, now, _ms(), description, logged["location"], run["id"],
             logged["location"], WORKSPACE),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO model_version_tags (key, value, name, version, workspace) "
            "VALUES (?, ?, ?, ?, ?)",
            [(k, v, name, number, WORKSPACE) for k, v in version["tags"].items()],
        )
        _record(db, name, "publish", alias=None, from_version=None, to_version=number,
                run_id=version["pipeline_run"], **extra)  # fmt: skip
        decision = None
        if decide is not None:
            holder = None
            if decide.holder_alias is not None:
                from .fastread import alias_holder

                db.row_factory = sqlite3.Row
                holder = alias_holder(db, name, decide.holder_alias)
            decision = decide(holder)
            if decision["promoted"]:
                aliases = [*aliases, decision["alias"]]
        moves = []
        for alias in aliases:
            row = db.execute(
                "SELECT version FROM registered_model_aliases WHERE workspace = ? AND name = ? "
                "AND alias = ?",
                (WORKSPACE, name, alias),
            ).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO registered_model_aliases (workspace, name, alias, "
                "version) VALUES (?, ?, ?, ?)",
                (WORKSPACE, name, alias, number),
            )
            why = ({"reason": f"promoted: {decision['reason']}"}
                   if decision is not None and decision["alias"] == alias else {})  # fmt: skip
            moves.append(
                _record(db, name, "alias-set", alias=alias,
                        from_version=int(row[0]) if row else None, to_version=number,
                        **extra, **why)
            )  # fmt: skip
        return {"version": number, "moves": moves, "promotion": decision}


def _ms() -> int:
    return int(time.time() * 1000)


def new_ids(artifacts: str) -> dict[str, str]:
    """Fresh MLflow run and logged-model ids and their artifact locations."""
    run_id, model_id = uuid.uuid4().hex, f"m-{uuid.uuid4().hex}"
    return {
        "run_id": run_id,
        "model_id": model_id,
        "run_artifacts": f"{artifacts}/{run_id}/artifacts",
        "model_artifacts": f"{artifacts}/models/{model_id}/artifacts",
    }
