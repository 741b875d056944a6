"""The git state recorded with runs: real git repositories in tmp_path."""

from __future__ import annotations

import subprocess
from pathlib import Path

from jupyter_mlops.gitinfo import git_info


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com",
                           "-c", "user.name=t", *args], check=True, capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip()


def test_commit_and_every_way_of_being_dirty(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    nb = repo / "sub" / "a.ipynb"
    nb.write_text("{}")
    (repo / "data.csv").write_text("x\n1\n")
    _git(repo, "init", "-q")
    assert git_info(str(nb)) is None  # no commit yet
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert git_info(str(nb)) == {"commit": head, "dirty": False}

    (repo / "untracked.txt").write_text("not part of the state")
    assert git_info(str(nb)) == {"commit": head, "dirty": False}  # other untracked files

    (repo / "data.csv").write_text("x\n2\n")  # a tracked file elsewhere in the tree
    assert git_info(str(nb))["dirty"] is True
    _git(repo, "checkout", "--", "data.csv")

    nb.write_text('{"cells": []}')  # the notebook itself
    assert git_info(str(nb))["dirty"] is True
    _git(repo, "checkout", "--", "sub/a.ipynb")

    other = repo / "sub" / "b.ipynb"  # an untracked notebook
    other.write_text("{}")
    assert git_info(str(other)) == {"commit": head, "dirty": True}
    assert git_info(str(nb))["dirty"] is False


def test_outside_a_repository_or_without_a_notebook(tmp_path: Path) -> None:
    nb = tmp_path / "plain" / "a.ipynb"
    nb.parent.mkdir()
    nb.write_text("{}")
    assert git_info(str(nb)) is None
    assert git_info(None) is None
    assert git_info(str(tmp_path / "missing" / "a.ipynb")) is None
