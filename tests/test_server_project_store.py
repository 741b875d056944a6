"""A server without a configured store publishes a run from the store of the notebook's own
project (``proj/.mlops``), not from the server root's: real server, real registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import registry_fixtures as rf

pytestmark = pytest.mark.slow


@pytest.fixture
def jp_server_config(monkeypatch, tmp_path):
    for var in ("JUPYTER_MLOPS_REGISTRY_URI", "MLFLOW_TRACKING_URI", "JUPYTER_MLOPS_STORE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))  # remembered stores
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}


async def test_publish_a_run_from_the_notebooks_own_store(jp_fetch, jp_root_dir, tmp_path):
    project = Path(jp_root_dir) / "proj"
    store = project / ".mlops"
    rf.seed_registry(store, tmp_path / "registry-template")
    notebook = rf.write_notebook(project / "nb.ipynb")
    clf, X = rf.iris()
    run = rf.make_record(store, clf, X, {"accuracy": 0.9}, notebook=notebook)["id"]

    listing = await jp_fetch("mlops", "api", "runs", params={"path": "proj/nb.ipynb"})
    assert [r["id"] for r in json.loads(listing.body)["runs"]] == [run]  # as the panel does
    answer = await jp_fetch("mlops", "api", "models", method="POST", request_timeout=180,
                            body=json.dumps({"run_id": run, "name": "proj-model"}))  # fmt: skip
    assert answer.code == 201
    published = json.loads(answer.body)
    assert published["version"] == 1
    assert published["registry_uri"].endswith(str(store / "registry.db"))
    assert not (Path(jp_root_dir) / ".mlops").exists()  # nothing made at the server root
