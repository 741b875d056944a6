"""The git state of a notebook's repository, recorded with each run (used by runner and registry)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def git_info(notebook: str | None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` for the repository holding ``notebook`` (dirty = the notebook
    or any tracked file differs from the commit), else ``None``."""
    if not notebook:
        return None
    folder = Path(notebook).parent
    if not folder.is_dir():
        return None

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    nb_status = git("status", "--porcelain", "--", str(notebook))
    return {"commit": commit, "dirty": bool(status) or bool(nb_status)}
