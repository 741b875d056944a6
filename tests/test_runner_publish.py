"""``jupyter mlops run ... --publish NAME``: unattended run + gated publish, real MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runner_fixtures import code, mlops, write_notebook

pytestmark = pytest.mark.slow


def _notebook(tmp_path: Path) -> Path:
    return write_notebook(
        tmp_path / "iris.ipynb",
        [
            code("max_iter = 300", "parameters"),
            code(
                "from sklearn.datasets import load_iris\n"
                "from sklearn.linear_model import LogisticRegression",
                "imports",
            ),
            code("X, y = load_iris(return_X_y=True, as_frame=True)", "step:load"),
            code(
                "clf = LogisticRegression(max_iter=max_iter).fit(X, y)\n"
                "accuracy = float(clf.score(X, y))",
                "step:train",
                "model:clf",
                "example:X[:3]",
            ),
            code("accuracy", "metrics"),
        ],
    )


def test_run_with_publish_and_gates(tmp_path: Path) -> None:
    nb = _notebook(tmp_path)
    store = str(tmp_path / "store")
    first = mlops(
        "run", str(nb), "--store", store, "--publish", "iris", "--alias", "prod",
        "--require", "accuracy>=0.5", "--json",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)
    assert record["status"] == "succeeded"
    assert record["publish"]["version"] == 1
    assert record["publish"]["aliases"] == ["prod"]
    assert "published iris version 1" in first.stderr

    refused = mlops(
        "run", str(nb), "--store", store, "--publish", "iris", "--require", "accuracy>1.5",
    )  # fmt: skip
    assert refused.returncode == 3, refused.stderr
    assert "accuracy" in refused.stderr and "1.5" in refused.stderr
    assert "Traceback" not in refused.stderr
    models = json.loads(mlops("models", "iris", "--store", store, "--json").stdout)
    versions = models["versions"] if isinstance(models, dict) else models
    assert [v["version"] for v in versions] == [1]  # the refused publish created nothing


def test_gate_options_need_publish_and_valid_syntax(tmp_path: Path) -> None:
    nb = _notebook(tmp_path)
    store = str(tmp_path / "store")
    alone = mlops("run", str(nb), "--store", store, "--require", "accuracy>=0.5")
    assert alone.returncode == 2
    assert "error: --require only make sense with --publish NAME" in alone.stderr
    bad = mlops("run", str(nb), "--store", store, "--publish", "iris", "--require", "accuracy~1")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "store" / "runs.db").exists()  # rejected before anything ran
