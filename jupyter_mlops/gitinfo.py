"""The git state of a notebook's repository, recorded with each run (used by runner and registry)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def git_info(notebook: str | None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` for the repository holding ``notebook`` (dirty = the notebook
    is changed or untracked, or any tracked file differs from the commit), else ``None``.

    Two ``git status`` calls run at once (a run pays for one process start, ≈ 15 ms, not
    three): the whole tree's tracked files with the commit (``--porcelain=v2 --branch``), and
    the notebook itself, untracked included."""
    if not notebook:
        return None
    folder = Path(notebook).parent
    if not folder.is_dir():
        return None
    tree = _start(folder, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    own = _start(folder, "status", "--porcelain", "--", str(notebook))
    tree_out, own_out = _output(tree), _output(own)
    if tree_out is None:
        return None
    lines = [line for line in tree_out.splitlines() if line.strip()]
    commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
    if commit is None or commit == "(initial)":  # not a repository, or no commit yet
        return None
    changed = any(not line.startswith("#") for line in lines)
    return {"commit": commit, "dirty": changed or bool((own_out or "").strip())}


def _start(folder: Path, *args: str) -> subprocess.Popen[str] | None:
    try:
        return subprocess.Popen(
            ["git", "-C", str(folder), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    except OSError:  # no git
        return None


def _output(proc: subprocess.Popen[str] | None) -> str | None:
    """What ``proc`` printed, None when it failed or took more than 10 s."""
    if proc is None:
        return None
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    return out if proc.returncode == 0 else None
