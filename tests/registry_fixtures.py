"""Fixtures for the registry tests: real fitted models and run records in a fake run store.

The registry reads runs through ``jupyter_mlops.registry.runs._open_store``; these helpers
write run records as JSON files (``<store>/fixture-runs/<id>.json``) with real artifacts
made by ``jupyter_mlops.serialization.dump``, and swap in a store that reads them. Run as a
script (``python tests/registry_fixtures.py publish ...``) it is the ``jupyter mlops`` CLI
with that store, so CLI tests can run in subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jupyter_mlops import serialization  # noqa: E402
from jupyter_mlops.errors import NotFound  # noqa: E402


class FakeStore:
    """Reads run records written by :func:`make_record`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __enter__(self) -> FakeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def get_run(self, run_id: str) -> dict[str, Any]:
        path = self.root / "fixture-runs" / f"{run_id}.json"
        if not path.is_file():
            raise NotFound(f"no run {run_id!r} in store {self.root}")
        return json.loads(path.read_text())

    def latest_run(self, notebook: str | None = None, status: str | None = "succeeded"):
        records = [json.loads(p.read_text()) for p in (self.root / "fixture-runs").glob("*.json")]
        records = [r for r in records if (notebook is None or r["notebook"] == notebook)
                   and (status is None or r["status"] == status)]  # fmt: skip
        return max(records, key=lambda r: r["finished_at"]) if records else None


def install_fake_store() -> None:
    from jupyter_mlops.registry import runs

    runs._open_store = FakeStore


def packages() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("scikit-learn", "numpy", "pandas", "scipy")}


def write_notebook(path: Path, title: str = "# Iris classifier\n\nPredicts the species.") -> Path:
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": title},
            {"cell_type": "code", "metadata": {"tags": ["step:train", "model:clf"]},
             "source": "clf = 1", "outputs": [], "execution_count": None},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


def make_record(
    store: Path,
    model: Any = None,
    example: Any = None,
    metrics: dict[str, float] | None = None,
    *,
    model_artifact: str | None = None,
    status: str = "succeeded",
    notebook: Path | None = None,
    parameters: dict[str, Any] | None = None,
    run_id: str | None = None,
    finished_at: str | None = None,
) -> dict[str, Any]:
    """Write a run record (and its model/example artifacts) into the fake store."""
    store = Path(store)
    run_id = run_id or uuid.uuid4().hex[:12]
    notebook = notebook or write_notebook(store.parent / "train.ipynb")
    run_dir = store / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    step_nb = run_dir / "train.ipynb"
    step_nb.write_text(Path(notebook).read_text())
    report = run_dir / "report.html"
    report.write_text("<html><body>report</body></html>")
    arts = store / "artifacts"
    if model_artifact is None and model is not None:
        model_artifact = serialization.dump(model, arts)["path"]
    example_artifact = serialization.dump(example, arts)["path"] if example is not None else None
    from datetime import datetime, timezone

    now = finished_at or datetime.now(timezone.utc).isoformat()
    record = {
        "id": run_id,
        "notebook": str(Path(notebook).resolve()),
        "notebook_sha256": "0" * 64,
        "status": status,
        "parameters": parameters if parameters is not None else {"n_estimators": 10, "seed": 0},
        "started_at": now,
        "finished_at": now,
        "duration_s": 1.0,
        "steps": {
            "train": {"status": status, "duration_s": 1.0, "notebook": str(step_nb), "error": None}
        },  # fmt: skip
        "metrics": metrics if metrics is not None else {"accuracy": 0.9},
        "model": {"step": "train", "variable": "clf", "artifact": model_artifact}
        if model_artifact
        else None,
        "example": {"step": "train", "variable": "X[:5]", "artifact": example_artifact}
        if example_artifact
        else None,
        "environment": {"python": sys.version.split()[0], "packages": packages()},
        "run_dir": str(run_dir),
        "report": str(report),
    }
    (store / "fixture-runs").mkdir(parents=True, exist_ok=True)
    (store / "fixture-runs" / f"{run_id}.json").write_text(json.dumps(record))
    return record


def iris(n_estimators: int = 5) -> tuple[Any, Any]:
    """A fitted RandomForest (needs a trusted skops type) and a 5-row example."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(X, y)
    return clf, X.iloc[:5]


NOTEBOOK_CLASS_CODE = textwrap.dedent(
    """
    import sys
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from jupyter_mlops import serialization

    class Doubler(BaseEstimator, TransformerMixin):   # defined in __main__, like a notebook
        def fit(self, X, y=None):
            return self
        def transform(self, X):
            return X * 2

    X, y = load_iris(return_X_y=True, as_frame=True)
    pipe = make_pipeline(Doubler(), LogisticRegression(max_iter=500)).fit(X, y)
    print(serialization.dump(pipe, sys.argv[1])["path"])
    """
)


def dump_notebook_class_model(artifacts: Path) -> str:
    """A pipeline with a transformer class defined in ``__main__`` (as in a kernel), dumped
    by a separate process; returns the artifact path."""
    done = subprocess.run(
        [sys.executable, "-c", NOTEBOOK_CLASS_CODE, str(artifacts)],
        capture_output=True, text=True, check=True, env=cli_env(),
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("JUPYTER_MLOPS_REGISTRY_URI", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300, **kw: Any):
    """Run ``jupyter mlops ARGS`` (with the fake store) in a subprocess."""
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True, text=True, timeout=timeout, env=env or cli_env(), **kw,
    )  # fmt: skip


if __name__ == "__main__":
    install_fake_store()
    from jupyter_mlops.cli.app import main

    sys.argv = ["jupyter-mlops", *sys.argv[1:]]
    main()


_TEMPLATE: dict[str, Path] = {}


def seed_registry(store: Path, cache_dir: Path) -> str:
    """Give ``store`` a copy of an already-migrated empty registry (creating a SQLite
    registry costs seconds; the first-creation path has its own concurrency test)."""
    import shutil

    if "db" not in _TEMPLATE:
        from jupyter_mlops.registry.client import open_client

        cache_dir.mkdir(parents=True, exist_ok=True)
        open_client(f"sqlite:///{cache_dir / 'registry.db'}")
        _TEMPLATE["db"] = cache_dir / "registry.db"
    store.mkdir(parents=True, exist_ok=True)
    shutil.copy(_TEMPLATE["db"], store / "registry.db")
    (store / "registry.db.ready").write_text("ok\n")
    return f"sqlite:///{store / 'registry.db'}"


class WrongRows:
    """A "model" whose predict returns ``rows`` rows whatever the input."""

    def __init__(self, rows: int = 1) -> None:
        self.rows = rows

    def predict(self, X):
        return [0] * (len(X) if self.rows == len(X) else self.rows)


class RaisesOnPredict:
    def predict(self, X):
        raise ValueError("bad input")
