"""Fixtures for the registry tests: real fitted models and run records in a real run store.

:func:`make_record` records a run through the runner's :class:`Store` (the same API a run
uses), with real artifacts made by ``jupyter_mlops.serialization.dump``. Run as a script
(``python tests/registry_fixtures.py publish ...``) it is the ``jupyter mlops`` CLI, so CLI
tests can run in subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jupyter_mlops import serialization  # noqa: E402
from jupyter_mlops.runner.store import Store, utcnow  # noqa: E402


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
) -> dict[str, Any]:
    """Record a finished run of a one-step notebook (and its model/example artifacts) in the
    run store at ``store``, through :class:`Store`; returns the store's record of it."""
    store = Path(store)
    notebook = Path(notebook or write_notebook(store.parent / "train.ipynb")).resolve()
    parameters = parameters if parameters is not None else {"n_estimators": 10, "seed": 0}
    with Store.open(store) as db:
        run_id = db.create_run(str(notebook), "0" * 64, parameters, ["train"], {})
        run_dir = db.run_dir(run_id)
        step_nb = run_dir / "train.ipynb"
        step_nb.write_text(notebook.read_text())
        (run_dir / "report.html").write_text("<html><body>report</body></html>")
        outputs = {}
        if model is not None and model_artifact is None:
            outputs["clf"] = serialization.dump(model, db.artifacts)
        elif model_artifact is not None:
            outputs["clf"] = {"format": "pickle", "digest": Path(model_artifact).name,
                              "size": Path(model_artifact).stat().st_size, "type": "object",
                              "path": str(model_artifact)}  # fmt: skip
        saved_example = serialization.dump(example, db.artifacts) if example is not None else None
        now = utcnow()
        db.update_run(run_id, status="running", started_at=now)
        db.update_step(
            run_id, "train", status=status, started_at=now, finished_at=now, duration_s=1.0,
            notebook=str(step_nb),
            manifest={"outputs": outputs, "metrics": metrics or {}, "example": saved_example},
        )  # fmt: skip
        clf = outputs.get("clf")
        db.update_run(
            run_id,
            status=status,
            finished_at=now,
            duration_s=1.0,
            metrics=metrics if metrics is not None else {"accuracy": 0.9},
            model={"step": "train", "variable": "clf", "artifact": clf["path"], "type": clf["type"]}
            if clf
            else None,  # fmt: skip
            example={
                "step": "train",
                "variable": "X[:5]",
                "artifact": saved_example["path"],
                "type": saved_example["type"],
            }
            if saved_example
            else None,  # fmt: skip
            environment={"python": sys.version.split()[0], "packages": packages()},
        )
        db.release_run(run_id)
        return db.get_run(run_id)


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
    """Run ``jupyter mlops ARGS`` in a subprocess (this checkout first on the path)."""
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True, text=True, timeout=timeout, env=env or cli_env(), **kw,
    )  # fmt: skip


if __name__ == "__main__":
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
