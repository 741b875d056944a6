"""``jupyter mlops serve``: MLflow's real model server for a published version.

A small scikit-learn model is published through the CLI, served on a free port, and the
version's stored example input is posted to ``/invocations``: the predictions are those of
``load_model(...).predict``. Errors (unknown version, busy port) are one line, exit 2, before
anything starts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import registry_fixtures as rf

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_ping(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"no answer from {url}/ping in {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then wait (kill after 30 s)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a server that ignores SIGTERM
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A store whose registry holds ``iris`` version 1 (@prod), with an example input."""
    store = tmp_path_factory.mktemp("serve") / ".mlops"
    clf, example = rf.iris(n_estimators=5)
    rf.seed_registry(store, tmp_path_factory.mktemp("registry-template"))
    record = rf.make_record(store, clf, example)
    done = rf.cli("publish", record["id"], "--name", "iris", "--alias", "prod",
                  "--store", str(store))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return store


def test_serve_answers_predictions_like_load_model(published: Path) -> None:
    port = free_port()
    body = rf.cli("serve", "iris@prod", "--print-example", "--store", str(published))
    assert body.returncode == 0, body.stderr
    request = json.loads(body.stdout)
    assert "dataframe_split" in request  # MLflow's request format, with column names

    proc = subprocess.Popen(
        [sys.executable, str(Path(rf.__file__)), "serve", "iris@prod", "--port", str(port),
         "--store", str(published)],
        env=rf.cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ping(url, proc)
        post = urllib.request.Request(
            f"{url}/invocations", data=body.stdout.encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(post, timeout=60) as answer:
            served = json.loads(answer.read())["predictions"]
        # the port is taken now: a second server is refused before anything starts
        busy = rf.cli("serve", "iris/1", "--port", str(port), "--store", str(published))
    finally:
        stop(proc)
    err = proc.stderr.read()
    assert err.startswith(f"serving models:/iris/1 (@prod) from sqlite:///{published}/"), err
    assert "--env-manager" not in err  # our line, then MLflow's own log

    from jupyter_mlops import load_model

    frame = rf_frame(request)
    expected = load_model("iris@prod", store=str(published)).predict(frame)
    assert served == expected.tolist()
    assert len(served) == 5

    assert busy.returncode == 2, busy.stderr
    assert busy.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: "), busy.stderr
    assert "choose another with --port" in busy.stderr


def rf_frame(request: dict):
    import pandas as pd

    split = request["dataframe_split"]
    return pd.DataFrame(split["data"], columns=split["columns"])


def test_serve_refuses_what_is_not_in_the_registry(published: Path) -> None:
    uri = f"sqlite:///{published}/registry.db"
    for ref, message in [
        ("iris/7", f"error: model 'iris' has no version 7 in the registry {uri}\n"),
        ("iris@staging", f"error: model 'iris' has no alias 'staging' in the registry {uri}\n"),
        ("nope", f"error: no registered model 'nope' in the registry {uri}\n"),
        ("iris/x", "error: 'iris/x': expected NAME, NAME@ALIAS or NAME/VERSION\n"),
    ]:
        done = rf.cli("serve", ref, "--port", str(free_port()), "--store", str(published))
        assert (done.returncode, done.stderr) == (2, message), ref
        assert done.stdout == ""


def test_serve_refuses_a_model_file_changed_after_publishing(published: Path) -> None:
    from jupyter_mlops.registry.client import open_registry_client
    from jupyter_mlops.registry.loading import NATIVE_TAG

    client = open_registry_client(f"sqlite:///{published}/registry.db")
    mv = client.get_model_version("iris", "1")
    folder = Path(client.get_model_version_download_uri("iris", "1").removeprefix("file://"))
    native = folder / mv.tags[NATIVE_TAG]
    original = native.read_bytes()
    native.write_bytes(original + b"\0")
    try:
        done = rf.cli("serve", "iris@prod", "--port", str(free_port()), "--store", str(published))
    finally:
        native.write_bytes(original)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: model 'iris' version 1: its model file does not match")
