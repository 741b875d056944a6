"""Shared pytest fixtures: a real Jupyter server with the extension enabled."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config(tmp_path):
    """Enable our server extension and keep its store inside the test's temp dir."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MlopsExtension": {"store": str(tmp_path / "store")},
    }


@pytest.fixture(scope="session")
def models_store(tmp_path_factory) -> dict:
    """A store shared by the REST tests of models (publish once, then read): runs ``base``
    (accuracy 0.8), ``good`` (0.9), ``worse`` (0.7), ``broken`` (0.99, but the Python of its kernel
    is gone: the deployability check fails), recorded with real fitted models (no kernels), and model
    ``iris-base`` version 1 @champion published from ``base``. Tests that publish use their
    own model names."""
    import os

    import registry_fixtures as rf

    from jupyter_mlops.runner.store import Store
    from jupyter_mlops.service import MlopsService

    for var in ("JUPYTER_MLOPS_REGISTRY_URI", "MLFLOW_TRACKING_URI"):
        assert var not in os.environ, f"unset {var} to run the REST model tests"
    base = tmp_path_factory.mktemp("models")
    store = base / "store"
    rf.seed_registry(store, tmp_path_factory.getbasetemp() / "registry-template")
    clf, X = rf.iris()
    runs = {
        "base": rf.make_record(store, clf, X, {"accuracy": 0.8}),
        "good": rf.make_record(store, clf, X, {"accuracy": 0.9}),
        "worse": rf.make_record(store, clf, X, {"accuracy": 0.7}),
    }
    gone = rf.make_record(store, clf, X, {"accuracy": 0.99})
    with Store.open(store) as db:  # its kernel's Python is gone: the deployability check fails
        env = {**gone["environment"], "executable": str(base / "gone" / "python")}
        db.update_run(gone["id"], environment=env)
    runs["broken"] = gone
    service = MlopsService.create(store=str(store))
    service.publish(runs["base"]["id"], "iris-base", aliases=["champion"])
    return {
        "store": store,
        "runs": {k: r["id"] for k, r in runs.items()},
        "uri": service.registry_uri,
    }
