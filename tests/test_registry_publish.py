"""Publishing to a real (SQLite) MLflow registry: versions, aliases, history, loading,
gates, the fresh-process deployability check, notebook-defined classes, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import registry_fixtures as rf

from jupyter_mlops.errors import GateRefused, InvalidInput, NotFound

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _pickle_by_value(monkeypatch):
    # test model classes travel by value (like classes defined in a notebook)
    import cloudpickle

    monkeypatch.delenv("JUPYTER_MLOPS_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cloudpickle.register_pickle_by_value(rf)
    yield
    cloudpickle.unregister_pickle_by_value(rf)


@pytest.fixture
def store(tmp_path, tmp_path_factory):
    path = tmp_path / "store"
    rf.seed_registry(path, tmp_path_factory.getbasetemp() / "registry-template")
    return path


def service(store):
    from jupyter_mlops.service import MlopsService

    return MlopsService.create(store=str(store))


def local_path(uri: str) -> Path:
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(uri).path))


def fresh_python(code: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=rf.cli_env()
    )
    assert done.returncode == 0, done.stderr
    return done


def test_publish_twice_aliases_history_and_loading(store):
    import jupyter_mlops

    clf, X = rf.iris()
    first = rf.make_record(store, clf, X, {"accuracy": 0.9})
    second = rf.make_record(store, clf, X, {"accuracy": 0.95}, parameters={"n_estimators": 7})
    r1 = jupyter_mlops.publish(first["id"], "iris", aliases=["champion"], store=str(store))
    r2 = jupyter_mlops.publish(
        second["id"], "iris", aliases=["champion"], description="Second try.", store=str(store)
    )
    assert (r1["version"], r2["version"]) == (1, 2)
    assert r2["uri"] == "models:/iris/2" and r2["aliases"] == ["champion"]
    assert r2["run_id"] == second["id"] and r2["flavor"] == "sklearn"
    check = r2["checks"]["deployability"]
    assert check["ok"] and check["fresh_process"] and check["rows_out"] == 5

    svc = service(store)
    listing = svc.models("iris")
    assert [v["version"] for v in listing["versions"]] == [2, 1]
    assert listing["aliases"] == {"champion": 2}
    assert listing["versions"][0]["metrics"] == {"accuracy": 0.95}
    assert listing["versions"][0]["aliases"] == ["champion"]
    assert [m["name"] for m in svc.models()] == ["iris"]

    svc.set_alias("iris", "champion", 1)
    moves = [(e["from_version"], e["to_version"]) for e in svc.history("iris")
             if e["event"] == "alias-set"]  # fmt: skip
    assert moves == [(None, 1), (1, 2), (2, 1)]
    assert [e["to_version"] for e in svc.history("iris") if e["event"] == "publish"] == [1, 2]
    assert all(e["by"] and e["at"] for e in svc.history("iris"))

    # the registry (not only the artifact) records the trusted skops types; card is attached
    from jupyter_mlops.registry.client import open_client

    client = open_client(svc.registry_uri)
    mv = client.get_model_version("iris", "2")
    assert "sklearn.tree._tree.Tree" in json.loads(mv.tags["mlops.skops_trusted_types"])
    assert mv.description.startswith("---\nname: iris\nversion: 2\n")
    assert "Second try." in mv.description and "deployability:" in mv.description
    run = client.get_run(mv.run_id)
    assert run.data.params["n_estimators"] == "7" and run.data.metrics["accuracy"] == 0.95
    assert run.data.tags["mlops.run_id"] == second["id"]
    assert run.data.tags["mlops.notebook"] == second["notebook"]
    arts = {a.path for a in client.list_artifacts(mv.run_id)} | {
        a.path for a in client.list_artifacts(mv.run_id, "steps")
    }
    assert {"report.html", "steps/train.ipynb"} <= arts
    location = local_path(client.get_model_version_download_uri("iris", "2"))
    assert location.is_relative_to(store / "models")
    card = (location / "MODEL_CARD.md").read_text()
    assert "# iris — version 2" in card
    v1 = client.get_model_version("iris", "1").description
    assert "# Iris classifier" in v1  # no --description: the notebook's first markdown cell

    # a new Python process: our load_model (native estimator) and plain MLflow by alias
    code = (
        "import sys, jupyter_mlops, pandas as pd\n"
        "from sklearn.datasets import load_iris\n"
        "m = jupyter_mlops.load_model(sys.argv[1], store=sys.argv[2])\n"
        "X = load_iris(as_frame=True).data.iloc[:4]\n"
        "print(type(m).__name__, len(m.predict(X)))\n"
        "import mlflow\n"
        "mlflow.set_tracking_uri(sys.argv[3]); mlflow.set_registry_uri(sys.argv[3])\n"
        "print(len(mlflow.pyfunc.load_model('models:/iris@champion').predict(X)))\n"
    )
    done = fresh_python(code, "iris@champion", str(store), svc.registry_uri)
    assert done.stdout.split() == ["RandomForestClassifier", "4", "4"]
    native = jupyter_mlops.load_model("models:/iris/2", store=str(store))
    assert native.n_estimators == clf.n_estimators


def test_gates_refuse_and_create_nothing(store):
    clf, X = rf.iris()
    rec = rf.make_record(store, clf, X, {"accuracy": 0.8, "rmse": 2.0})
    svc = service(store)
    with pytest.raises(GateRefused, match=r"accuracy is 0\.8, required >= 0\.9"):
        svc.publish(rec["id"], "gated", require=["accuracy>=0.9"])
    assert svc.models() == []
    with pytest.raises(InvalidInput):
        svc.publish(rec["id"], "gated", require=["accuracy=>0.9"])
    # no registered model yet: the challenger wins, and the check says why
    first = svc.publish(rec["id"], "gated", aliases=["champion"], require=["accuracy>=0.5",
                        "rmse<3"], must_beat="champion:accuracy")  # fmt: skip
    gate = first["checks"]["gates"][-1]
    assert gate["passed"] and gate["note"] == "no version holds @champion yet"
    worse = rf.make_record(store, clf, X, {"accuracy": 0.7, "rmse": 1.0})
    with pytest.raises(GateRefused, match=r"0\.7.*version 1.*0\.8"):
        svc.publish(worse["id"], "gated", must_beat="champion:accuracy")
    with pytest.raises(InvalidInput, match="no metric 'f1'"):
        svc.publish(worse["id"], "gated", must_beat="prod:f1")
    assert [v["version"] for v in svc.models("gated")["versions"]] == [1]
    # the model exists but no version holds @prod: passes too
    r = svc.publish(worse["id"], "gated", must_beat="prod:accuracy")
    assert r["version"] == 2 and r["checks"]["gates"][0]["note"] == "no version holds @prod yet"
    r = svc.publish(worse["id"], "gated", must_beat="champion:rmse:lower")
    assert r["version"] == 3 and r["checks"]["gates"][0]["incumbent"] == 2.0


def test_invalid_runs(store):
    clf, X = rf.iris()
    svc = service(store)
    with pytest.raises(NotFound):
        svc.publish("nope", "m")
    failed = rf.make_record(store, clf, X, status="failed")
    with pytest.raises(InvalidInput, match="is failed"):
        svc.publish(failed["id"], "m")
    no_model = rf.make_record(store, None, None)
    with pytest.raises(InvalidInput, match="has no model"):
        svc.publish(no_model["id"], "m")
    with pytest.raises(InvalidInput, match="invalid alias"):
        svc.publish(no_model["id"], "m", aliases=["latest"])


def test_cli_exit_codes_one_line_errors_and_json(store):
    clf, X = rf.iris()
    rec = rf.make_record(store, clf, X, {"accuracy": 0.8})
    rf.make_record(store, clf, X, status="failed")
    base = ["--store", str(store)]
    cases = [
        (["publish", "missing", "--name", "m"], 2, "no run 'missing'"),
        (["publish", rec["id"], "--name", "m", "--require", "accuracy>>1"], 2, "--require"),
        (["publish", rec["id"], "--name", "m", "--require", "accuracy>=0.9"], 3, "0.8"),
        (["alias", "m", "champion", "1"], 2, "no registered model 'm'"),
        (["history", "m"], 2, "no registered model 'm'"),
    ]
    for args, code, text in cases:
        done = rf.cli(*args, *base)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == code, (args, done.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines
    done = rf.cli("publish", "latest", "--name", "m", "--alias", "staging", "--json", *base)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"name", "version", "uri", "aliases", "run_id", "checks"} <= set(result)
    assert result["run_id"] == rec["id"] and result["aliases"] == ["staging"]
    assert rf.cli("alias", "m", "staging", "--delete", *base).returncode == 0
    done = rf.cli("alias", "m", "staging", "--delete", *base)
    assert done.returncode == 2 and "no alias 'staging'" in done.stderr
    done = rf.cli("history", "m", *base)
    assert "@staging: unset -> version 1" in done.stdout
    assert "@staging: version 1 -> deleted" in done.stdout
    models = json.loads(rf.cli("models", "--json", *base).stdout)
    assert models[0]["name"] == "m" and models[0]["versions"][0]["version"] == 1


def test_deployability_check_failures_create_nothing(store, tmp_path, monkeypatch):
    # a model whose class lives in a module only this process can import
    moddir = tmp_path / "only_here"
    moddir.mkdir()
    (moddir / "localmod_xyz.py").write_text(
        "class Model:\n    def predict(self, X):\n        return [0] * len(X)\n"
    )
    monkeypatch.syspath_prepend(str(moddir))
    import localmod_xyz

    _, X = rf.iris()
    svc = service(store)
    rec = rf.make_record(store, localmod_xyz.Model(), X)
    with pytest.raises(GateRefused, match="load_model failed: ModuleNotFoundError.*localmod_xyz"):
        svc.publish(rec["id"], "broken")
    wrong = rf.make_record(store, rf.WrongRows(), X)
    with pytest.raises(GateRefused, match=r"predict returned 1 row\(s\) for 5 input row"):
        svc.publish(wrong["id"], "broken")
    raising = rf.make_record(store, rf.RaisesOnPredict(), X)
    with pytest.raises(GateRefused, match="predict failed: ValueError: bad input"):
        svc.publish(raising["id"], "broken")
    assert svc.models() == []
    ok = svc.publish(rf.make_record(store, rf.WrongRows(rows=5), X)["id"], "broken")
    assert ok["version"] == 1 and ok["flavor"] == "pyfunc"


def test_notebook_defined_class_publishes_and_loads_in_fresh_process(store):
    _, X = rf.iris()
    artifact = rf.dump_notebook_class_model(store / "artifacts")
    rec = rf.make_record(store, None, X, model_artifact=artifact)
    svc = service(store)
    result = svc.publish(rec["id"], "custom", aliases=["prod"])
    assert result["flavor"] == "pyfunc"
    assert result["checks"]["deployability"]["model_type"] == "sklearn.pipeline.Pipeline"
    code = (
        "import sys, jupyter_mlops, mlflow\n"
        "from sklearn.datasets import load_iris\n"
        "X = load_iris(as_frame=True).data.iloc[:3]\n"
        "m = jupyter_mlops.load_model('custom@prod', store=sys.argv[1])\n"
        "print(type(m).__name__, type(m.steps[0][1]).__name__, len(m.predict(X)))\n"
        "mlflow.set_tracking_uri(sys.argv[2]); mlflow.set_registry_uri(sys.argv[2])\n"
        "print(len(mlflow.pyfunc.load_model('models:/custom/1').predict(X)))\n"
    )
    done = fresh_python(code, str(store), svc.registry_uri)
    assert done.stdout.split() == ["Pipeline", "Doubler", "3", "3"]


@pytest.mark.parametrize("stage", ["uploaded", "registered"])
def test_kill_9_leaves_no_broken_version(store, stage):
    clf, X = rf.iris()
    rec = rf.make_record(store, clf, X)
    env = rf.cli_env(JUPYTER_MLOPS_TEST_PAUSE_AT=stage)
    proc = subprocess.Popen(
        [sys.executable, rf.__file__, "publish", rec["id"], "--name", "k", "--store", str(store)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == f"paused at {stage}"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    svc = service(store)
    from jupyter_mlops.registry.client import open_client

    client = open_client(svc.registry_uri)
    for mv in client.search_model_versions("name = 'k'"):
        uri = client.get_model_version_download_uri("k", mv.version)
        assert (local_path(uri) / "MLmodel").is_file()
    time.sleep(0.1)
    result = svc.publish(rec["id"], "k")
    assert result["version"] == (2 if stage == "registered" else 1)
    import jupyter_mlops

    assert len(jupyter_mlops.load_model("k", store=str(store)).predict(X)) == 5
