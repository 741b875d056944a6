"""Kernels keep their own environment; the deploy check runs where the model was made.

A kernelspec points at a second virtual environment (its own numpy, scikit-learn,
cloudpickle, skops; no pandas), built once and reused (see venv_fixtures.py). The server
side is installed as a normal package would be: a copy of ``jupyter_mlops`` in a
site-packages-like folder that also holds pandas.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import venv_fixtures
from runner_fixtures import REPO, code, write_notebook

pytestmark = pytest.mark.slow

KERNEL = "mlops-test-venv"


@pytest.fixture(scope="session")
def venv_python() -> Path:
    return venv_fixtures.ensure_venv()


@pytest.fixture(scope="session")
def server_site(tmp_path_factory) -> Path:
    """A site-packages-like folder: our package (copied, as an install would) next to
    pandas and its dependencies."""
    site = tmp_path_factory.mktemp("site-packages")
    shutil.copytree(
        REPO / "jupyter_mlops", site / "jupyter_mlops", ignore=shutil.ignore_patterns("__pycache__")
    )
    ours = Path(sysconfig.get_path("purelib"))
    for name in ("pandas", "numpy", "numpy.libs", "dateutil", "pytz", "tzdata", "six.py"):
        if (ours / name).exists():
            (site / name).symlink_to(ours / name)
    return site


@pytest.fixture(scope="session")
def jupyter_dir(tmp_path_factory, venv_python: Path) -> Path:
    folder = tmp_path_factory.mktemp("jupyter")
    venv_fixtures.register_kernel(folder, KERNEL, venv_python)
    return folder


def mlops(site: Path, jupyter: Path, *args: str, cwd: Path | None = None, **env: str):
    """``jupyter mlops ARGS`` from the installed-like ``site`` (no PYTHONPATH)."""
    program = (
        "import sys\n"
        f"sys.path.insert(0, {str(site)!r})\n"
        "from jupyter_mlops.cli.app import main\n"
        "sys.argv = ['jupyter-mlops', *sys.argv[1:]]\n"
        "main()\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ.update(JUPYTER_PATH=str(jupyter), **env)
    environ.pop("JUPYTER_MLOPS_REGISTRY_URI", None)
    environ.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-c", program, *args],
        capture_output=True, text=True, env=environ, cwd=cwd, timeout=600,
    )  # fmt: skip


def _venv_notebook(path: Path, cells) -> Path:
    write_notebook(path, cells)
    nb = json.loads(path.read_text())
    nb["metadata"]["kernelspec"] = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    path.write_text(json.dumps(nb))
    return path


def test_server_packages_do_not_leak_into_the_kernel(tmp_path, server_site, jupyter_dir):
    nb = _venv_notebook(
        tmp_path / "leak.ipynb",
        [
            code(
                "import sys\nimport numpy\nxs = [1, 2, 3]\n"
                "numpy_of_the_kernel = numpy.__file__.startswith(sys.prefix)",
                "step:make",
            ),
            code("import pandas\nn = len(xs)", "step:use"),
            code("numpy_of_the_kernel", "metrics"),
        ],
    )
    done = mlops(server_site, jupyter_dir, "run", str(nb), "--store", str(tmp_path / "s"), "--json")
    assert done.returncode == 1, done.stderr
    record = json.loads(done.stdout)
    assert record["steps"]["make"]["status"] == "succeeded"
    assert record["metrics"]["numpy_of_the_kernel"] is True
    error = record["steps"]["use"]["error"]
    assert error["ename"] == "ModuleNotFoundError"
    assert error["evalue"] == "No module named 'pandas'"
    assert "No module named 'pandas'" in done.stderr


@pytest.fixture(scope="session")
def venv_run(tmp_path_factory, server_site, jupyter_dir, venv_python) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("venv-run")
    nb = _venv_notebook(
        work / "train.ipynb",
        [
            code("import numpy as np\nfrom sklearn.linear_model import LogisticRegression", "setup"),
            code(
                "rng = np.random.default_rng(0)\nX = rng.normal(size=(80, 3))\n"
                "y = (X[:, 0] + X[:, 1] > 0).astype(int)",
                "step:data",
            ),
            code(
                "clf = LogisticRegression().fit(X, y)\naccuracy = float(clf.score(X, y))",
                "step:train", "model:clf", "example:X[:5]",
            ),
            code("accuracy", "metrics"),
        ],
    )  # fmt: skip
    store = work / "store"
    done = mlops(server_site, jupyter_dir, "run", str(nb), "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    return store, json.loads(done.stdout)


def test_the_run_records_the_kernels_environment(venv_run, venv_python):
    from jupyter_mlops.runner.store import Store

    store, record = venv_run
    with Store.open_existing(store) as db:
        env = db.get_run(record["id"])["environment"]
    assert env["executable"] == str(venv_python)
    assert env["packages"]["scikit-learn"] == "1.9.1"
    assert "pandas" not in env["packages"]
    probe = "import sys; print(sys.prefix)"
    prefix = subprocess.run([str(venv_python), "-c", probe], capture_output=True, text=True)
    assert prefix.stdout.strip() == str(venv_fixtures.venv_dir())


def test_publish_checks_with_the_kernels_python_and_load_model_trusts_the_registry(
    venv_run, venv_python, server_site, jupyter_dir
):
    store, record = venv_run
    done = mlops(
        server_site, jupyter_dir, "publish", record["id"], "--name", "venv-model",
        "--store", str(store), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    check = result["checks"]["deployability"]
    assert check["ok"] and check["executable"] == str(venv_python)
    assert check["rows_out"] == 5 and result["flavor"] == "sklearn"

    import jupyter_mlops
    from jupyter_mlops.registry.client import open_client
    from jupyter_mlops.registry.loading import UntrustedModel
    from jupyter_mlops.settings import resolve_registry_uri

    client = open_client(resolve_registry_uri(store, None))
    mv = client.get_model_version("venv-model", "1")
    assert mv.tags["mlops.deployability_python"] == str(venv_python)
    assert mv.tags["mlops.format"] == "skops" and len(mv.tags["mlops.artifact_sha256"]) == 64
    assert str(venv_python) in mv.description  # the model card names the interpreter

    model = jupyter_mlops.load_model("venv-model", store=str(store))
    assert type(model).__name__ == "LogisticRegression"

    from urllib.parse import unquote, urlparse

    folder = Path(unquote(urlparse(client.get_model_version_download_uri("venv-model", "1")).path))
    native = folder / mv.tags["mlops.artifact"]
    original = native.read_bytes()
    native.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # tampered in the registry
    try:
        with pytest.raises(UntrustedModel, match="does not match the sha256 recorded"):
            jupyter_mlops.load_model("venv-model", store=str(store))
    finally:
        native.write_bytes(original)
    assert type(jupyter_mlops.load_model("venv-model", store=str(store))).__name__ == (
        "LogisticRegression"
    )


def _kernel_notebook(path: Path, kernel: str, cells) -> Path:
    write_notebook(path, cells)
    nb = json.loads(path.read_text())
    nb["metadata"]["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    path.write_text(json.dumps(nb))
    return path


def test_a_kernel_without_ipykernel_gets_one_clear_error(tmp_path, server_site):
    jupyter = tmp_path / "jupyter"
    venv_fixtures.register_kernel(jupyter, "bare", venv_fixtures.bare_venv(tmp_path / "bare"))
    nb = _kernel_notebook(tmp_path / "bare.ipynb", "bare", [code("x = 1", "step:only")])
    done = mlops(server_site, jupyter, "run", str(nb), "--store", str(tmp_path / "s"), "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)["steps"]["only"]["error"]
    assert error["ename"] == "KernelEnvironmentError"
    assert "kernel 'bare' cannot start: ipykernel is not installed" in error["evalue"]
    assert "pip install ipykernel cloudpickle" in error["evalue"]


def test_a_kernel_without_cloudpickle_gets_one_clear_error(tmp_path, server_site):
    python = venv_fixtures.ensure_venv(venv_fixtures.MINIMAL)
    jupyter = tmp_path / "jupyter"
    venv_fixtures.register_kernel(jupyter, "minimal", python)
    nb = _kernel_notebook(
        tmp_path / "min.ipynb",
        "minimal",
        [code("xs = [1, 2]", "step:make"), code("n = len(xs)", "step:use")],
    )
    done = mlops(server_site, jupyter, "run", str(nb), "--store", str(tmp_path / "s"), "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)["steps"]["make"]["error"]
    assert error["ename"] == "MissingRequirement"
    assert "cloudpickle is not installed in the environment of kernel 'minimal'" in error["evalue"]
    assert f"{python} -m pip install cloudpickle" in error["evalue"]


def test_kernels_get_only_a_private_copy_of_the_helpers():
    import stat

    from jupyter_mlops.kernel_package import PACKAGE, kernel_environ, kernel_path

    folder = kernel_path()
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == [PACKAGE]
    for path in (folder, folder.parent):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700 and path.stat().st_uid == os.getuid()
    modules = sorted(p.name for p in (folder / PACKAGE).glob("*.py"))
    assert {"kernel_io.py", "serialization.py", "kernel_models.py"} <= set(modules)
    entries = kernel_environ("k")["PYTHONPATH"].split(os.pathsep)
    assert entries[0] == str(folder)
    assert sysconfig.get_path("purelib") not in entries and str(REPO) not in entries
