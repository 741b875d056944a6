"""End to end: run a real tagged notebook with the runner, publish it, load it elsewhere."""

from __future__ import annotations

import subprocess
import sys

import pytest
import registry_fixtures as rf
from runner_fixtures import code, markdown, write_notebook

pytestmark = pytest.mark.slow

TRAIN = """
from sklearn.base import BaseEstimator, TransformerMixin

class Scale(BaseEstimator, TransformerMixin):   # defined in the notebook (__main__)
    def fit(self, X, y=None):
        return self
    def transform(self, X):
        return X * factor

X, y = load_iris(return_X_y=True, as_frame=True)
clf = make_pipeline(Scale(), LogisticRegression(max_iter=max_iter)).fit(X, y)
accuracy = float(clf.score(X, y))
"""


def test_run_notebook_then_publish_and_load(tmp_path):
    from jupyter_mlops import publish, run_pipeline

    nb = write_notebook(
        tmp_path / "iris.ipynb",
        [
            markdown("# Iris pipeline\n\nA notebook-defined scaler and a logistic regression."),
            code("factor = 2.0\nmax_iter = 300", "parameters"),
            code(
                "from sklearn.datasets import load_iris\n"
                "from sklearn.linear_model import LogisticRegression\n"
                "from sklearn.pipeline import make_pipeline",
                "imports",
            ),
            code(TRAIN, "step:train", "model:clf", "example:X[:5]"),
            code("accuracy", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"
    run = run_pipeline(str(nb), parameters={"max_iter": 400}, store=str(store))
    record = run.to_dict()
    assert record["status"] == "succeeded", record
    result = publish(run.id, "iris-e2e", aliases=["prod"], store=str(store))
    assert result["version"] == 1 and result["flavor"] == "pyfunc"
    assert result["checks"]["deployability"]["rows_out"] == 5
    card = rf.cli("models", "iris-e2e", "--json", "--store", str(store))
    assert card.returncode == 0, card.stderr
    code_ = (
        "import sys, jupyter_mlops\n"
        "from sklearn.datasets import load_iris\n"
        "m = jupyter_mlops.load_model('iris-e2e@prod', store=sys.argv[1])\n"
        "print(type(m.steps[0][1]).__name__, len(m.predict(load_iris(as_frame=True).data[:7])))"
    )
    done = subprocess.run([sys.executable, "-c", code_, str(store)], capture_output=True,
                          text=True, env=rf.cli_env())  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Scale", "7"]
    from jupyter_mlops.registry.client import open_client
    from jupyter_mlops.service import MlopsService

    client = open_client(MlopsService.create(store=str(store)).registry_uri)
    mv = client.get_model_version("iris-e2e", "1")
    assert "# Iris pipeline" in mv.description and "max_iter: 400" in mv.description
    assert client.get_run(mv.run_id).data.params["max_iter"] == "400"
    digest = record["steps"]["train"]["outputs"]["clf"]
    assert "data_digests:" in mv.description and digest in mv.description
    assert "run_id: " in mv.description
    # the store knows the run was published: gc keeps it (and what it needs) even with --keep 0
    from jupyter_mlops.runner.store import Store

    with Store.open_existing(store) as db:
        assert run.id in db.published_runs()
    other = run_pipeline(str(nb), parameters={"max_iter": 300}, store=str(store), report="none")
    dropped = MlopsService.create(store=str(store)).gc(keep=0)
    assert dropped["runs"] == [other.id] and dropped["bytes"] > 0
    again = run_pipeline(str(nb), parameters={"max_iter": 400}, store=str(store), report="none")
    assert {s["status"] for s in again.to_dict()["steps"].values()} == {"cached"}
