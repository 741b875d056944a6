"""A second virtual environment for kernel tests: its own numpy/scikit-learn, no pandas.

Built once (pip, from the package index) under a cache folder named by its requirements
and reused across pytest invocations: ``/tmp/jupyter-mlops-test-venv-<hash>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REQUIREMENTS = [
    "ipykernel==7.4.0",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "scikit-learn==1.9.1",
    "cloudpickle==3.1.3",
    "skops==0.16.0",
]


MINIMAL = ["ipykernel==7.4.0"]  # can start, but lacks what passing values needs


def venv_dir(requirements: list[str] | None = None) -> Path:
    tag = json.dumps([sys.version_info[:2], requirements or REQUIREMENTS]).encode()
    root = os.environ.get("JUPYTER_MLOPS_TEST_VENV_ROOT", tempfile.gettempdir())
    return Path(root) / f"jupyter-mlops-test-venv-{hashlib.sha256(tag).hexdigest()[:12]}"


def ensure_venv(requirements: list[str] | None = None) -> Path:
    """The venv's python (building the venv first if it is not there or incomplete)."""
    requirements = requirements or REQUIREMENTS
    folder = venv_dir(requirements)
    python = folder / "bin" / "python"
    done = folder / ".complete"
    if done.is_file() and python.exists():
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(folder)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *requirements],
        check=True,
    )  # fmt: skip
    done.write_text("ok\n")
    return python


def register_kernel(jupyter_dir: Path, name: str, python: Path) -> Path:
    """A kernelspec ``name`` running ``python`` under ``jupyter_dir/kernels``."""
    spec = jupyter_dir / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Test venv ({name})",
                "language": "python",
            }
        )
    )
    return spec


def bare_venv(root: Path) -> Path:
    """A venv with nothing installed (not even pip): no ipykernel."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True)
    return root / "bin" / "python"


if __name__ == "__main__":
    print(ensure_venv())
    print(ensure_venv(MINIMAL))
