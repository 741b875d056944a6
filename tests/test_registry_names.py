"""Model names are checked up front against one stated rule, default names satisfy it, and
no failure path leaves an MLflow run RUNNING (a real SQLite MLflow registry)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import registry_fixtures as rf
from runner_fixtures import code, mlops, write_notebook

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.registry.names import NAME_RULE, default_model_name

pytestmark = pytest.mark.slow

BAD_NAMES = ["a.b", "50%", "two\nlines", "x" * 1000, "", " ", "-lead", "wine/1", "it's", "é"]


@pytest.fixture(autouse=True)
def _registry_env(monkeypatch):
    monkeypatch.delenv("JUPYTER_MLOPS_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def store(tmp_path, tmp_path_factory):
    path = tmp_path / "store"
    rf.seed_registry(path, tmp_path_factory.getbasetemp() / "registry-template")
    return path


def _service(store):
    from jupyter_mlops.service import MlopsService

    return MlopsService.create(store=str(store))


def _mlflow_runs(svc):
    from mlflow.entities import ViewType

    from jupyter_mlops.registry.client import open_client

    client = open_client(svc.registry_uri)
    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return client.search_runs(ids, run_view_type=ViewType.ALL) if ids else []


def test_bad_names_are_refused_before_anything_is_created(store):
    clf, X = rf.iris()
    rec = rf.make_record(store, clf, X)
    svc = _service(store)
    for name in BAD_NAMES:
        started = time.monotonic()
        with pytest.raises(InvalidInput, match="invalid model name") as excinfo:
            svc.publish(rec["id"], name)
        assert NAME_RULE in str(excinfo.value)
        assert "\n" not in str(excinfo.value)
        assert time.monotonic() - started < 2, name  # no MLflow round trip first
    assert _mlflow_runs(svc) == []
    done = rf.cli("publish", rec["id"], "--name", "a.b", "--store", str(store))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: invalid model name 'a.b': {NAME_RULE}"


def test_run_publish_checks_the_name_before_running(tmp_path):
    nb = write_notebook(tmp_path / "nb.ipynb", [code("x = 1", "step:a")])
    store = tmp_path / "s"
    proc = mlops("run", str(nb), "--store", str(store), "--publish", "my.model")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: invalid model name 'my.model': {NAME_RULE}"
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())


def test_default_names_come_from_the_notebook_file_name(store):
    assert default_model_name("/x/My model (v2).ipynb") == "My-model-v2"
    assert default_model_name("/x/wine_classifier.ipynb") == "wine_classifier"
    assert default_model_name("/x/..ipynb") == "model"
    assert default_model_name("/x/" + "é" * 300 + ".ipynb") == "model"
    assert default_model_name("/x/" + "a" * 300 + ".ipynb") == "a" * 128
    clf, X = rf.iris()
    notebook = rf.write_notebook(store.parent / "My model (v2).ipynb")
    rec = rf.make_record(store, clf, X, notebook=notebook)
    done = rf.cli("publish", rec["id"], "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    assert '"name": "My-model-v2"' in done.stdout


@pytest.mark.parametrize("stage", ["uploaded", "registered"])
def test_an_interrupted_publish_leaves_no_running_mlflow_run(store, stage):
    """Ctrl-C after the MLflow run exists: it ends FAILED (and is deleted when no version
    refers to it), never RUNNING."""
    clf, X = rf.iris()
    rec = rf.make_record(store, clf, X)
    env = rf.cli_env(JUPYTER_MLOPS_TEST_PAUSE_AT=stage)
    proc = subprocess.Popen(
        [sys.executable, rf.__file__, "publish", rec["id"], "--name", "k", "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == f"paused at {stage}"
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr.read().strip().splitlines()[-1] == "error: interrupted"
    runs = _mlflow_runs(_service(store))
    assert len(runs) == 1
    assert runs[0].info.status == "FAILED"
    assert runs[0].info.lifecycle_stage == ("active" if stage == "registered" else "deleted")
