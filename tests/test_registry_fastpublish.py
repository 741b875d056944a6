"""The MLflow-free publish path (registry/fastpublish.py, kernel_signature.py) writes what
MLflow's own calls write: every registry row and every model file, compared with the MLflow
path on the same run; MLflow's client, ``mlflow.pyfunc`` and our ``load_model`` read it;
anything it cannot describe goes through MLflow; a refused or interrupted publish leaves no
version and no run."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import registry_fixtures as rf

pytestmark = pytest.mark.slow

FORCE = "JUPYTER_MLOPS_PUBLISH_VIA_MLFLOW"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("JUPYTER_MLOPS_REGISTRY_URI", "MLFLOW_TRACKING_URI", FORCE):
        monkeypatch.delenv(name, raising=False)


def _service(store: Path):
    from jupyter_mlops.service import MlopsService

    return MlopsService.create(store=str(store))


def _ready_store(tmp_path: Path, name: str, cache: Path) -> tuple[Path, dict]:
    """A store whose registry already has our experiment (one publish through MLflow),
    and a run of a RandomForest on iris to publish."""
    store = tmp_path / name
    rf.seed_registry(store, cache)
    clf, X = rf.iris()
    first = rf.make_record(store, clf, X, {"accuracy": 0.9})
    os.environ[FORCE] = "1"
    try:
        _service(store).publish(first["id"], "init")
    finally:
        del os.environ[FORCE]
    record = rf.make_record(store, clf, X, {"accuracy": 0.95, "loss": float("nan")},
                            parameters={"n_estimators": 5, "note": "two words"})  # fmt: skip
    return store, record


_PATTERNS = [
    (re.compile(r"m-[0-9a-f]{32}"), "<model-id>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),  # skops zips differ from save to save
    (re.compile(r"\b[0-9a-f]{32}\b"), "<uuid>"),
    (re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b"), "<run>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?"), "<time>"),
    (re.compile(r"mlops\.history\.\d{20}\.[0-9a-f]{6}"), "<history-key>"),
    (re.compile(r"((load|predict)_seconds\W+)[0-9.e-]+"), r"\1<s>"),
    (re.compile(r"^1\d{12}$"), "<ms>"),
]


def _normal(value: object, store: Path) -> str:
    text = str(value).replace(str(store), "<store>")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _rows(store: Path) -> dict[str, list[tuple]]:
    """Every row of the registry, normalized (ids, times)."""
    db = sqlite3.connect(store / "registry.db")
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = {}
    for table in tables:
        rows = [
            tuple(_normal(v, store) for v in row) for row in db.execute(f'SELECT * FROM "{table}"')
        ]
        out[table] = sorted(rows)
    db.close()
    return out


def _model_files(store: Path, uri: str) -> dict[str, object]:
    from urllib.parse import unquote, urlparse

    import yaml

    folder = Path(unquote(urlparse(uri).path))
    files: dict[str, object] = {}
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            text = file.read_bytes()
            key = str(file.relative_to(folder))
            if key == "MLmodel":
                files[key] = {k: _normal(v, store) for k, v in yaml.safe_load(text).items()}
            elif key == "model.skops":
                files[key] = len(text) > 0  # its digest is in the (compared) version tags
            elif key == "MODEL_CARD.md":
                files[key] = _normal(text.decode(), store)
            else:
                files[key] = text
    return files


def test_fast_publish_writes_what_mlflow_writes(tmp_path, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "registry-template"
    slow_store, slow_rec = _ready_store(tmp_path, "slow", cache)
    fast_store, fast_rec = _ready_store(tmp_path, "fast", cache)

    os.environ[FORCE] = "1"
    try:
        slow = _service(slow_store).publish(slow_rec["id"], "iris", aliases=["champion"])
    finally:
        del os.environ[FORCE]
    import jupyter_mlops.registry.fastpublish as fastpublish

    calls = []
    original = fastpublish.Writer.write
    fastpublish.Writer.write = lambda self, *a: calls.append(1) or original(self, *a)
    try:
        fast = _service(fast_store).publish(fast_rec["id"], "iris", aliases=["champion"])
    finally:
        fastpublish.Writer.write = original
    assert calls == [1], "the second store did not take the fast path"
    assert (slow["version"], fast["version"]) == (1, 1)

    slow_rows, fast_rows = _rows(slow_store), _rows(fast_store)
    assert slow_rows.keys() == fast_rows.keys()
    for table in slow_rows:
        assert fast_rows[table] == slow_rows[table], table
    assert any("iris" in r for r in fast_rows["model_versions"])

    from jupyter_mlops.registry.client import open_client

    files = []
    for store in (slow_store, fast_store):
        client = open_client(f"sqlite:///{store / 'registry.db'}")
        files.append(_model_files(store, client.get_model_version_download_uri("iris", "1")))
        run = client.get_run(client.get_model_version("iris", "1").run_id)
        arts = sorted(a.path for a in client.list_artifacts(run.info.run_id))
        arts += sorted(a.path for a in client.list_artifacts(run.info.run_id, "steps"))
        files[-1]["run artifacts"] = arts
    assert files[1] == files[0]
    assert "serving_input_example.json" in files[1]


def test_mlflow_and_load_model_read_a_fast_version(tmp_path, tmp_path_factory):
    store, record = _ready_store(tmp_path, "s", tmp_path_factory.getbasetemp() / "tpl")
    done = rf.cli("publish", record["id"], "--name", "iris", "--alias", "champion",
                  "--store", str(store), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == 1
    uri = f"sqlite:///{store / 'registry.db'}"
    code = (
        "import sys, mlflow, jupyter_mlops\n"
        "assert 'mlflow' in sys.modules\n"
        "mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_registry_uri(sys.argv[1])\n"
        "from mlflow.models import Model\n"
        "m = mlflow.pyfunc.load_model('models:/iris@champion')\n"
        "local = mlflow.artifacts.download_artifacts('models:/iris@champion')\n"
        "X = Model.load(local).load_input_example(local)\n"
        "ours = jupyter_mlops.load_model('iris@champion', store=sys.argv[2])\n"
        "print(list(m.predict(X)) == list(ours.predict(X)), len(X))\n"
        "print(m.metadata.get_input_schema().input_names())\n"
        "c = mlflow.MlflowClient()\n"
        "mv = c.get_model_version('iris', '1')\n"
        "run = c.get_run(mv.run_id)\n"
        "print(run.info.status, run.data.metrics['accuracy'], run.data.params['note'])\n"
        "print([o.model_id for o in run.outputs.model_outputs] == [mv.source.split('/')[-2]])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, uri, str(store)], capture_output=True,
                         text=True, env=rf.cli_env())  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0] == "True 5"
    assert "sepal length (cm)" in lines[1]
    assert lines[2] == "FINISHED 0.95 two words"
    assert lines[3] == "True"


def test_a_notebook_class_goes_through_mlflow(tmp_path, tmp_path_factory):
    """cloudpickle models are wrapped by MLflow's pyfunc: the fast path steps aside."""
    import cloudpickle

    store, _ = _ready_store(tmp_path, "s", tmp_path_factory.getbasetemp() / "tpl")
    artifact = rf.dump_notebook_class_model(store / "artifacts")
    cloudpickle.register_pickle_by_value(rf)
    try:
        from sklearn.datasets import load_iris

        X = load_iris(return_X_y=True, as_frame=True)[0].iloc[:3]
        rec = rf.make_record(store, None, X, model_artifact=artifact)
    finally:
        cloudpickle.unregister_pickle_by_value(rf)
    result = _service(store).publish(rec["id"], "custom")
    assert result["flavor"] == "pyfunc" and result["version"] == 1


@pytest.mark.parametrize("stage", ["uploaded", "registered"])
def test_kill_9_in_the_fast_path_leaves_no_version_and_no_run(tmp_path, tmp_path_factory, stage):
    store, record = _ready_store(tmp_path, "s", tmp_path_factory.getbasetemp() / "tpl")
    runs_before = sqlite3.connect(store / "registry.db").execute("SELECT COUNT(*) FROM runs")
    runs_before = runs_before.fetchone()[0]
    env = rf.cli_env(JUPYTER_MLOPS_TEST_PAUSE_AT=stage)
    proc = subprocess.Popen(
        [sys.executable, rf.__file__, "publish", record["id"], "--name", "k", "--store", str(store)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == f"paused at {stage}"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    db = sqlite3.connect(store / "registry.db")
    assert db.execute("SELECT COUNT(*) FROM model_versions WHERE name = 'k'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == runs_before
    db.close()
    result = _service(store).publish(record["id"], "k")
    assert result["version"] == 1


def test_an_interrupted_fast_publish_removes_its_files(tmp_path, tmp_path_factory):
    store, record = _ready_store(tmp_path, "s", tmp_path_factory.getbasetemp() / "tpl")
    before = sorted(p.name for p in (store / "models").iterdir())
    before_models = sorted(p.name for p in (store / "models" / "models").iterdir())
    env = rf.cli_env(JUPYTER_MLOPS_TEST_PAUSE_AT="registered")
    proc = subprocess.Popen(
        [sys.executable, rf.__file__, "publish", record["id"], "--name", "k", "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "paused at registered"
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(p.name for p in (store / "models").iterdir()) == before
    assert sorted(p.name for p in (store / "models" / "models").iterdir()) == before_models


def test_a_registry_changed_under_the_publish_is_one_clear_error(tmp_path, tmp_path_factory):
    """The schema revision checked before the publish is checked again in the write's
    transaction: a registry migrated meanwhile gets one line naming it, and nothing."""
    import jupyter_mlops.registry.fastpublish as fastpublish
    from jupyter_mlops.registry.client import RegistryError

    store, record = _ready_store(tmp_path, "s", tmp_path_factory.getbasetemp() / "tpl")
    db_file = store / "registry.db"
    original = fastpublish.experiment

    def checked_then_migrated(uri):
        found = original(uri)
        db = sqlite3.connect(db_file)
        db.execute("UPDATE alembic_version SET version_num = 'from-the-future'")
        db.commit()
        db.close()
        return found

    fastpublish.experiment = checked_then_migrated
    try:
        with pytest.raises(RegistryError, match="cannot write to the registry .*registry.db"):
            _service(store).publish(record["id"], "k")
    finally:
        fastpublish.experiment = original
    db = sqlite3.connect(db_file)
    assert db.execute("SELECT COUNT(*) FROM model_versions WHERE name = 'k'").fetchone()[0] == 0
    db.close()
    assert not list((store / "models" / "models").glob("*/MODEL_CARD.md"))[1:]  # init's only
