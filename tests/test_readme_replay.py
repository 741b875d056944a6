"""The README's blocks, replayed as written, in order, on a fresh copy of the examples in a git repo.

Every fenced code block of the README is marked in its info string: ```` ```bash run ```` /
```` ```python run ```` blocks are run here in order from the repository root (the tour: run,
runs, show, publish with a must-beat gate on the first publish, load_model, serve + curl; then
gc, info, run --publish, models, alias, history), ```` ```bash check ```` / ```` ```python check
```` / ```` ```json check ```` blocks (``make lab``, the Python API sketch, the server config)
cannot run here and are checked for syntax; ```` ```text ```` blocks are synopses. Then the
reading commands run from ``examples/``, ``load_model`` in a real kernel started in
``examples/`` finds the model published from the root, and plain MLflow finds it with
``info``'s line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.S | re.M)
MODES = {"run", "check"}


def readme_blocks() -> list[tuple[str, str, str]]:
    """(language, mode, text) of every fenced block of the README, in order."""
    text = (REPO / "README.md").read_text()
    blocks = []
    for info, body in FENCE.findall(text):
        language, _, mode = info.strip().partition(" ")
        blocks.append((language, mode.strip(), body))
    return blocks


def is_commands(body: str) -> bool:
    """A block of plain ``jupyter mlops`` lines (each run and checked on its own)."""
    return all(
        line.startswith("jupyter mlops ") and not any(c in line for c in "&$|\\")
        for line in body.splitlines()
        if line.strip()
    )


def readme_commands() -> list[list[str]]:
    """Every ``jupyter mlops ...`` line of the README's runnable command blocks, in order."""
    commands = []
    for language, mode, body in readme_blocks():
        if (language, mode) == ("bash", "run") and is_commands(body):
            commands += [shlex.split(line, comments=True) for line in body.splitlines() if line]
    return commands


def test_every_readme_block_is_marked_and_checked() -> None:
    """Blocks that cannot run here are marked ``check`` and are valid bash, Python or JSON."""
    blocks = readme_blocks()
    assert blocks, "no fenced blocks found"
    for language, mode, body in blocks:
        if language == "text":
            continue
        assert mode in MODES, f"README block not marked run/check: {language} {body[:60]!r}"
        assert language in ("bash", "python", "json"), language
        if language == "bash":
            done = subprocess.run(["bash", "-n"], input=body, capture_output=True, text=True)
            assert done.returncode == 0, (body, done.stderr)
        elif language == "python":
            compile(body, "README.md", "exec")
        else:
            try:
                json.loads(body)
            except json.JSONDecodeError:
                json.loads("{" + body + "}")  # a fragment of a notebook's JSON
    runnable = [(lang, body) for lang, mode, body in blocks if mode == "run"]
    assert any("jupyter mlops serve" in body and "curl" in body for _, body in runnable)
    assert ("bash", "check") in {(lang, mode) for lang, mode, body in blocks if "make lab" in body}


def env() -> dict[str, str]:
    out = dict(os.environ)
    for name in ("JUPYTER_MLOPS_STORE", "JUPYTER_MLOPS_REGISTRY_URI", "MLFLOW_TRACKING_URI"):
        out.pop(name, None)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), out.get("PYTHONPATH")]))
    return out


def mlops(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    assert args[:2] == ["jupyter", "mlops"], args
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli.app", *args[2:]],
        cwd=cwd, env=env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def expect(args: list[str], done: subprocess.CompletedProcess, root: Path) -> None:
    """The README promises, per command."""
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, (args, err)
    cmd = args[2]
    if cmd == "run" and "--publish" not in args:
        assert re.search(
            rf"^report {re.escape(str(root))}/\.mlops/runs/\S+/report\.html", err, re.M
        )
    elif cmd == "run":
        assert "published wine version 2" in err, err
    elif cmd == "runs":
        header, first = out.splitlines()[:2]
        assert header.split()[:3] == ["run", "status", "seconds"]
        assert "n_estimators=200 max_depth=8" in first and "accuracy=" in first
        assert "test_size" not in first  # defaults are not repeated
    elif cmd == "show":
        assert re.match(r"run \S+: succeeded", out), out
    elif cmd == "gc":  # one run, younger than 30 days and among the 20 newest: all kept
        verb = "would remove" if "--dry-run" in args else "removed"
        assert out.startswith(f"{verb} 0 run(s) and 0 artifact(s), kept 1 run(s); "), out
    elif cmd == "info":
        assert f"store     {root}/.mlops\n          found: the nearest .mlops" in out, out
        assert f"MLFLOW_TRACKING_URI=sqlite:///{root}/.mlops/registry.db python ..." in out
    elif cmd == "publish":
        assert out.startswith("published models:/wine/1 (aliases: champion)"), out
        assert "must-beat champion:accuracy" in out and "no version holds @champion yet" in out
    elif cmd == "models":
        assert out.startswith("wine  (2 versions) @champion→v2"), out
    elif cmd == "alias":
        assert out.strip() == "@champion of wine: from version 2 to version 1", out
    elif cmd == "history":
        assert "published version 1" in out and "published version 2" in out
        assert "@champion: version 2 -> version 1" in out, out
    else:  # pragma: no cover - a new README command needs its expectation here
        raise AssertionError(f"no expectation for {args}")


@pytest.mark.slow
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shell_block(body: str, root: Path) -> list:
    """Run a README shell block (the serve + curl one) with bash -e on a free port, in its
    own process group (stopped afterwards whatever happens); the predictions it printed."""
    import contextlib
    import signal
    import tempfile

    port = str(free_port())
    script = body.replace(":5001", f":{port}").replace("--port 5001", f"--port {port}")
    environment = env()
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment["PATH"]])
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        # files, not pipes: the server left in the background must not hold our reads open
        proc = subprocess.Popen(["bash", "-e", "-c", script], cwd=root, env=environment,
                                stdout=out_file, stderr=err_file, start_new_session=True)  # fmt: skip
        try:
            proc.wait(timeout=600)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    assert proc.returncode == 0, err
    assert "serving models:/wine/1 (@champion) from sqlite:///" in err, err
    return json.loads(out[out.index('{"predictions"') :])["predictions"]


def test_readme_commands_work_as_written(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(REPO / "examples", root / "examples")
    shutil.copy(REPO / "README.md", root / "README.md")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    commands = readme_commands()
    assert [c[2] for c in commands] == [
        "run", "runs", "show", "publish", "gc", "gc", "info", "run", "models", "alias", "history",
    ]  # fmt: skip
    ran = []
    for language, mode, body in readme_blocks():
        if mode != "run":
            continue
        if language == "bash" and is_commands(body):
            for line in filter(None, body.splitlines()):
                args = shlex.split(line, comments=True)
                expect(args, mlops(args, root), root)
                ran.append(args[2])
        elif language == "python":  # the tour's load_model, from the project root
            done = subprocess.run([sys.executable, "-c", body], cwd=root, env=env(),
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert re.fullmatch(r"Pipeline \[[012](?: [012]){4}\]\n", done.stdout), done.stdout
            ran.append("load_model")
        else:
            predictions = shell_block(body, root)
            assert len(predictions) == 5 and set(predictions) <= {0, 1, 2}, predictions
            ran.append("serve")
    assert ran[3:6] == ["publish", "load_model", "serve"], ran  # the tour, in order
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert ".mlops" not in status and "examples/wine_classifier.ipynb" in status

    # from examples/: the same store and registry
    examples = root / "examples"
    before = files(examples)
    info = json.loads(mlops(["jupyter", "mlops", "info", "wine_classifier.ipynb", "--json"],
                            examples).stdout)  # fmt: skip
    assert info["store"] == str(root / ".mlops") and info["warnings"] == []
    runs = mlops(["jupyter", "mlops", "runs"], examples)
    assert runs.returncode == 0 and len(runs.stdout.splitlines()) == 3, runs.stdout
    models = mlops(["jupyter", "mlops", "models", "wine"], examples)
    assert models.stdout.startswith("wine  (2 versions) @champion→v1"), models.stdout
    wrong = mlops(["jupyter", "mlops", "alias", "wine", "champion", "99"], examples)
    assert wrong.returncode == 2 and wrong.stderr == "error: model 'wine' has no version 99\n"

    # load_model in a real kernel started in examples/ (as JupyterLab's kernels are)
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(examples), env=env())
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        outputs: list[str] = []

        def collect(msg: dict) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                outputs.append(content["text"])
            elif msg["msg_type"] == "error":
                outputs.append(f"{content['ename']}: {content['evalue']}")

        source = (
            "import jupyter_mlops\n"
            "from sklearn.datasets import load_wine\n"
            "m = jupyter_mlops.load_model('wine@champion')\n"
            "print(type(m).__name__, len(m.predict(load_wine(as_frame=True).data[:4])))\n"
            "try:\n"
            "    jupyter_mlops.load_model('no-such-model')\n"
            "except jupyter_mlops.errors.NotFound as exc:\n"
            "    print('NotFound:', exc)\n"
        )
        reply = kc.execute_interactive(source, timeout=300, output_hook=collect)
        assert reply["content"]["status"] == "ok", outputs
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    text = "".join(outputs)
    assert "Pipeline 4" in text, text
    assert f"no registered model 'no-such-model' in the registry {info['registry_uri']}" in text

    # plain MLflow with the line info prints
    code = (
        "import mlflow\n"
        "from sklearn.datasets import load_wine\n"
        "m = mlflow.pyfunc.load_model('models:/wine@champion')\n"
        "print(len(m.predict(load_wine(as_frame=True).data[:3])))\n"
    )
    line = info["mlflow_env"].replace("python ...", f"{sys.executable} -c {shlex.quote(code)}")
    done = subprocess.run(["sh", "-c", line], cwd=examples, env=env(), capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0 and done.stdout.split()[-1] == "3", done.stderr
    assert files(examples) == before  # nothing created next to the notebook (no mlflow.db)

    # the MLflow-free fast path answers exactly what the MLflow client answers
    from jupyter_mlops.registry import catalog, fastread
    from jupyter_mlops.registry.client import open_client

    uri = info["registry_uri"]
    client = open_client(uri)
    with fastread.connect(uri) as db:
        assert fastread.describe_model(db, "wine") == catalog.describe_model(client, "wine")
        assert fastread.history_events(db, "wine") == catalog.history(client, "wine")
        assert fastread.list_models(db) == catalog.list_models(client)
    # another schema revision: the fast path steps aside (the MLflow client is used)
    copy = tmp_path / "other-revision.db"
    shutil.copy(root / ".mlops" / "registry.db", copy)
    import sqlite3

    with sqlite3.connect(copy) as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    with pytest.raises(fastread.Unavailable), fastread.connect(f"sqlite:///{copy}"):
        pass
