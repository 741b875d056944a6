"""Finding the store like git finds .git, ``info``, and reads that never create anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runner_fixtures import code, mlops, write_notebook

from jupyter_mlops.errors import NotFound
from jupyter_mlops.service import MlopsService
from jupyter_mlops.settings import (
    MlopsWarning,
    locate_registry,
    locate_store,
    prepare_store,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("JUPYTER_MLOPS_STORE", "JUPYTER_MLOPS_REGISTRY_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)


def git_init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_nearest_store_above_the_start_folder_wins(tmp_path):
    (tmp_path / "proj" / ".mlops").mkdir(parents=True)
    deep = tmp_path / "proj" / "a" / "b"
    deep.mkdir(parents=True)
    loc = locate_store(start=deep, cwd=tmp_path)
    assert loc.path == tmp_path / "proj" / ".mlops" and not loc.explicit
    assert "found: the nearest .mlops" in loc.how and loc.shadows is None and not loc.warnings


def test_nested_store_shadowing_another_warns(tmp_path):
    (tmp_path / ".mlops").mkdir()
    (tmp_path / "sub" / ".mlops").mkdir(parents=True)
    with pytest.warns(MlopsWarning, match="shadows the store"):
        loc = locate_store(cwd=tmp_path / "sub")
    assert loc.path == tmp_path / "sub" / ".mlops" and loc.shadows == tmp_path / ".mlops"
    done = mlops("info", cwd=tmp_path / "sub")
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and str(tmp_path / ".mlops") in warning[0], done.stderr


def test_new_store_goes_to_the_git_top_else_the_current_directory(tmp_path):
    repo = git_init(tmp_path / "repo")
    (repo / "nb" / "deep").mkdir(parents=True)
    loc = locate_store(start=repo / "nb" / "deep", cwd=repo / "nb")
    assert loc.path == repo / ".mlops" and "git work tree" in loc.how
    plain = tmp_path / "plain" / "sub"
    plain.mkdir(parents=True)
    loc = locate_store(start=plain, cwd=tmp_path / "plain")
    assert loc.path == tmp_path / "plain" / ".mlops" and "current directory" in loc.how


def test_explicit_choices_override_discovery(tmp_path, monkeypatch):
    (tmp_path / ".mlops").mkdir()
    assert locate_store("elsewhere", cwd=tmp_path).path == tmp_path / "elsewhere"
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path / "env"))
    loc = locate_store(cwd=tmp_path)
    assert loc.path == tmp_path / "env" and loc.how == "$JUPYTER_MLOPS_STORE"
    svc = MlopsService.create(root_dir=tmp_path)
    nb = write_notebook(tmp_path / "x" / "n.ipynb", [code("x = 1", "step:a")])
    assert svc.for_notebook(nb).store == tmp_path / "env"


def test_run_in_a_git_subfolder_creates_an_ignored_owner_only_store_at_the_top(tmp_path):
    repo = git_init(tmp_path / "repo")
    nb = write_notebook(repo / "notebooks" / "n.ipynb", [code("x = 1\nprint(x)", "step:a")])
    done = mlops("run", str(nb), cwd=repo / "notebooks")
    assert done.returncode == 0, done.stderr
    store = repo / ".mlops"
    assert (store / "runs.db").is_file() and not (repo / "notebooks" / ".mlops").exists()
    assert store.stat().st_mode & 0o777 == 0o700
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=repo, capture_output=True, text=True, check=True)  # fmt: skip
    assert ".mlops" not in status.stdout and "notebooks/n.ipynb" in status.stdout
    report = [line for line in done.stderr.splitlines() if line.startswith("report ")]
    assert report and str(store / "runs") in report[0], done.stderr
    # from the repository root and from the notebook's folder: the same store
    for cwd in (repo, repo / "notebooks"):
        listed = mlops("runs", cwd=cwd)
        assert listed.stdout.splitlines()[0].split()[:3] == ["run", "status", "seconds"]
        assert "notebooks/n.ipynb" in listed.stdout or "n.ipynb" in listed.stdout
        shown = mlops("show", "latest", "--json", cwd=cwd)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["notebook"] == str(nb)


def test_info_names_store_how_and_the_mlflow_line(tmp_path):
    repo = git_init(tmp_path / "repo")
    nb = write_notebook(repo / "sub" / "n.ipynb", [code("x = 1", "step:a")])
    done = mlops("info", str(nb), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["store"] == str(repo / ".mlops") and "git work tree" in info["store_how"]
    uri = f"sqlite:///{repo / '.mlops' / 'registry.db'}"
    assert info["registry_uri"] == uri and info["store_exists"] is False
    assert info["mlflow_env"] == f"MLFLOW_TRACKING_URI={uri} python ..."
    text = mlops("info", str(nb), cwd=tmp_path).stdout
    assert f"MLFLOW_TRACKING_URI={uri} python" in text and "git work tree" in text
    assert not (repo / ".mlops").exists()  # info creates nothing


def test_mlflow_tracking_uri_of_another_project_is_named_and_not_used(tmp_path, monkeypatch):
    other = prepare_store(tmp_path / "projA" / ".mlops")
    mine = tmp_path / "projB" / ".mlops"
    mine.mkdir(parents=True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other / 'registry.db'}")
    with pytest.warns(MlopsWarning, match="another project's store"):
        reg = locate_registry(mine)
    assert reg.uri == f"sqlite:///{mine / 'registry.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli.app", "models"],
        cwd=tmp_path / "projB", capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning: $MLFLOW_TRACKING_URI=" in done.stderr and str(other) in done.stderr
    # a server URI (or this store's own registry) is used as given, without a warning
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert locate_registry(mine).uri == "http://127.0.0.1:5999"


def test_reads_of_a_missing_registry_create_nothing_and_name_it(tmp_path, monkeypatch):
    project = tmp_path / "p"
    (project / ".mlops").mkdir(parents=True)
    before = listing(tmp_path)
    svc = MlopsService.create(root_dir=project)
    uri = f"sqlite:///{project / '.mlops' / 'registry.db'}"
    for call in (lambda: svc.models("wine"), lambda: svc.history("wine")):
        with pytest.raises(NotFound, match="no registered model 'wine'") as excinfo:
            call()
        assert uri in str(excinfo.value) and "--registry-uri" in str(excinfo.value)
    assert svc.models() == []
    for args in (["models", "wine"], ["history", "wine"], ["alias", "wine", "champion", "1"]):
        done = mlops(*args, cwd=project)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and uri in done.stderr
    monkeypatch.chdir(project)
    import jupyter_mlops

    with pytest.raises(NotFound, match="no model registry at") as excinfo:
        jupyter_mlops.load_model("wine@champion")
    assert uri in str(excinfo.value)
    assert listing(tmp_path) == before


def test_an_existing_folder_given_as_store_gets_no_gitignore(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me visible to git")
    prepare_store(mine)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    new = prepare_store(tmp_path / "new" / "store")
    assert (new / ".gitignore").read_text().splitlines()[-1] == "*"
    assert new.stat().st_mode & 0o777 == 0o700
