"""The installed package: console entry point and both Jupyter extensions enabled."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jupyter_mlops

# the jupyter command of this Python's environment (a venv's bin/ need not be on PATH)
jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or shutil.which("jupyter")


def _run(*args: str) -> subprocess.CompletedProcess:
    assert jupyter is not None, "the jupyter command (from jupyter_core) must be installed"
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(jupyter).parent), os.environ["PATH"]]))
    return subprocess.run([jupyter, *args], capture_output=True, text=True, timeout=120, env=env)


def test_cli_help_and_version() -> None:
    version = _run("mlops", "--version")
    assert version.returncode == 0
    assert version.stdout.strip() == jupyter_mlops.__version__
    helped = _run("mlops", "--help")
    assert helped.returncode == 0
    for command in ("compile", "run", "runs", "show", "publish", "models", "alias", "history",
                    "info"):  # fmt: skip
        assert f"\n{command}\n" in helped.stdout
    unknown = _run("mlops", "frobnicate")
    assert unknown.returncode == 2
    assert "error: unknown command 'frobnicate'" in unknown.stderr


def test_extensions_are_enabled() -> None:
    labext = _run("labextension", "list")
    lines = [
        line for line in (labext.stdout + labext.stderr).splitlines() if "jupyter-mlops" in line
    ]
    assert lines and "enabled" in lines[0] and "OK" in lines[0], labext.stdout + labext.stderr
    server = _run("server", "extension", "list")
    text = server.stdout + server.stderr
    assert "jupyter_mlops enabled" in " ".join(
        text.replace("\x1b[32m", "").replace("\x1b[0m", "").split()
    )
    assert f"jupyter_mlops {jupyter_mlops.__version__} OK" in text.replace("\x1b[32m", "").replace(
        "\x1b[0m", ""
    )
