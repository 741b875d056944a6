"""Unusable stores and registries are one clear line and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from runner_fixtures import code, mlops, write_notebook


@pytest.fixture
def not_a_database(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    (store / "runs.db").write_text("these are my notes, not a database\n")
    return store


def test_store_whose_database_is_not_ours(not_a_database: Path, tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", [code("x = 1", "step:one")])
    for args in (("runs",), ("show", "someid"), ("run", str(nb))):
        proc = mlops(*args, "--store", str(not_a_database))
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.strip() == (
            f"error: {not_a_database / 'runs.db'} is not a jupyter-mlops run database "
            "(file is not a database); choose another --store or move that file away"
        )
    assert (not_a_database / "runs.db").read_text().startswith("these are my notes")


def test_store_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    nb = write_notebook(tmp_path / "nb.ipynb", [code("x = 1", "step:one")])
    proc = mlops("run", str(nb), "--store", str(blocker / "store"))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: cannot use the store {blocker / 'store'}: ")
    assert "Traceback" not in proc.stderr


def test_registry_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    uri = f"sqlite:///{blocker}/sub/registry.db"
    # reads never create a registry: nothing to list, a named lookup names where it looked
    proc = mlops("models", "--registry-uri", uri)
    assert proc.returncode == 0 and proc.stdout.strip() == f"no registered models in {uri}"
    proc = mlops("models", "m", "--registry-uri", uri)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: no registered model 'm': no model registry at {uri}")
    # the first publish creates it: an uncreatable path is one line, exit 2
    import registry_fixtures as rf

    clf, X = rf.iris()
    store = tmp_path / "store"
    rec = rf.make_record(store, clf, X)
    proc = rf.cli("publish", rec["id"], "--name", "m", "--store", str(store), "--registry-uri", uri)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: cannot use the registry at {uri}: ")
    assert "Traceback" not in proc.stderr
