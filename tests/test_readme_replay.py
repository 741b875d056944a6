"""The README's commands, replayed as written on a fresh copy of the examples in a git repo.

From the repository root in the README's order (run, runs, show, info, publish with a
must-beat gate on the first publish, run --publish, models, alias, history), then the reading
commands from ``examples/``; then ``load_model`` in a real kernel started in ``examples/``
finds the model published from the root, and plain MLflow finds it with ``info``'s line.
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

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[list[str]]:
    """Every ``jupyter mlops ...`` line of the README's bash blocks from "Run it headlessly" on."""
    text = (REPO / "README.md").read_text()
    text = text[text.index("## Run it headlessly") :]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            if line.startswith("jupyter mlops ") and not line.startswith("jupyter mlops serve"):
                commands.append(shlex.split(line, comments=True))
    return commands


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


def test_readme_commands_work_as_written(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(REPO / "examples", root / "examples")
    shutil.copy(REPO / "README.md", root / "README.md")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    commands = readme_commands()
    assert [c[2] for c in commands] == [
        "run", "runs", "show", "gc", "gc", "info", "publish", "run", "models", "alias", "history",
    ]  # fmt: skip
    for args in commands:
        expect(args, mlops(args, root), root)
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
