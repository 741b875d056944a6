"""Publishing to a real ``mlflow server`` on 127.0.0.1 (the remote-registry path)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import registry_fixtures as rf

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path, tmp_path_factory):
    seeded = tmp_path / "server"
    rf.seed_registry(seeded, tmp_path_factory.getbasetemp() / "registry-template")
    port = _free_port()
    exe = Path(sys.executable).with_name("mlflow")
    cmd = [str(exe) if exe.exists() else shutil.which("mlflow"), "server",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{seeded / 'registry.db'}",
           "--serve-artifacts", "--artifacts-destination", str(tmp_path / "server-artifacts")]  # fmt: skip
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=rf.cli_env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start: " + (tmp_path / "server.log").read_text())
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_publish_to_remote_mlflow_server(tmp_path, mlflow_server):
    store = tmp_path / "store"
    clf, X = rf.iris(n_estimators=3)
    rec = rf.make_record(store, clf, X, {"accuracy": 0.97})
    common = ["--store", str(store), "--registry-uri", mlflow_server]
    done = rf.cli("publish", rec["id"], "--name", "remote", "--alias", "prod", "--json", *common)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["version"] == 1 and result["registry_uri"] == mlflow_server
    assert not (store / "registry.db").exists()  # nothing went to the embedded registry
    assert rf.cli("alias", "remote", "staging", "1", *common).returncode == 0
    history = rf.cli("history", "remote", *common).stdout
    assert "published version 1" in history and "@staging: unset -> version 1" in history
    code = (
        "import sys, jupyter_mlops, mlflow\n"
        "from sklearn.datasets import load_iris\n"
        "X = load_iris(as_frame=True).data.iloc[:6]\n"
        "m = jupyter_mlops.load_model('models:/remote@prod', registry_uri=sys.argv[1])\n"
        "print(type(m).__name__, len(m.predict(X)))\n"
        "mlflow.set_tracking_uri(sys.argv[1])\n"
        "print(len(mlflow.pyfunc.load_model('models:/remote/1').predict(X)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, mlflow_server], capture_output=True,
                         text=True, env=rf.cli_env())  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["RandomForestClassifier", "6", "6"]
