"""Secret parameters (tag ``secret:NAME``): the value reaches the kernel, and nothing a run
or a publish writes holds it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import nbformat
import pytest
from runner_fixtures import code, mlops, write_notebook

from jupyter_mlops import run_pipeline
from jupyter_mlops.compiler import CompileError, compile_notebook

SECRET_VALUE = "s3cr3t-VALUE-'quoted'-xyz123"


def secret_notebook(tmp_path: Path) -> Path:
    return write_notebook(
        tmp_path / "secret.ipynb",
        [
            code('token = "dev-default-token"\nmax_iter = 200', "parameters", "secret:token"),
            code("from sklearn.linear_model import LogisticRegression", "imports"),
            code(
                "X = [[0.0], [1.0], [2.0], [3.0]]\ny = [0, 0, 1, 1]\n"
                "print('using', token)\ntoken_length = len(token)\n"
                "import time\ntime.sleep(1.5)  # the live output relay reads the log meanwhile",
                "step:load",
            ),
            code(
                "clf = LogisticRegression(max_iter=max_iter).fit(X, y)\n"
                "accuracy = float(clf.score(X, y))\nassert token.startswith('s3cr3t')\n"
                "token_length",
                "step:train",
                "model:clf",
                "example:X[:2]",
            ),
            code("accuracy\ntoken_length", "metrics"),
        ],
    )


def files_holding(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n!r}" for n in needles if n in data]
    return found


@pytest.mark.slow
def test_a_secret_reaches_the_kernel_and_is_written_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = secret_notebook(tmp_path)
    store = tmp_path / "store"
    monkeypatch.setenv("API_TOKEN", SECRET_VALUE)
    run = run_pipeline(nb, parameter_texts=[("token", "env:API_TOKEN")], store=store, report="sync")
    assert run.status == "succeeded", run.record
    assert run.record["metrics"]["token_length"] == len(SECRET_VALUE)  # the kernel had it
    assert run.record["parameters"] == {"token": "<secret>", "max_iter": 200}
    cells = nbformat.read(store / "runs" / run.id / "load.ipynb", as_version=4).cells
    sources = [c.source for c in cells]
    outputs = [o.get("text", "") for c in cells for o in c.get("outputs", [])]
    assert "# Parameters\ntoken = '<secret>'" in sources  # the injected-parameters cell
    assert "using <secret>\n" in outputs  # what the step printed
    from jupyter_mlops.runner.store import Store

    with Store.open(store) as db:  # the live output relay saw the line while the step ran
        live = [e for e in db.events(run.id) if e["kind"] == "output"]
    assert any("using <secret>" in e["text"] for e in live), live
    published = mlops("publish", run.id, "--name", "secretive", "--store", str(store), "--json")
    assert published.returncode == 0, published.stderr
    key = store / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    needles = [SECRET_VALUE.encode(), json.dumps(SECRET_VALUE).encode()[1:-1]]
    needles.append(b"s3cr3t-VALUE")
    # the store holds the runs DB, artifacts, executed notebooks, logs, report, and the
    # default MLflow registry (tracking DB + artifacts, with the model card)
    assert (store / "registry.db").exists() and any(store.rglob("MODEL_CARD.md"))
    assert any(store.rglob("report.html"))
    assert files_holding(store, needles) == []
    assert not any(Path("/tmp").glob("jupyter-mlops-*/secrets-*"))  # read and deleted
    assert "<secret>" in "".join(p.read_text() for p in store.rglob("MODEL_CARD.md"))
    assert SECRET_VALUE not in published.stdout + published.stderr


def test_secret_values_enter_cache_keys_only_as_keyed_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = write_notebook(
        tmp_path / "cache.ipynb",
        [
            code('token = ""', "parameters", "secret:token"),
            code("n = len(token)", "step:use"),
            code("n", "metrics"),
        ],
    )
    store = tmp_path / "store"
    first = run_pipeline(nb, {"token": "alpha-secret"}, store=store, report="none")
    again = run_pipeline(nb, {"token": "alpha-secret"}, store=store, report="none")
    other = run_pipeline(nb, {"token": "beta-secret-longer"}, store=store, report="none")
    assert first.record["steps"]["use"]["status"] == "succeeded"
    assert again.record["steps"]["use"]["status"] == "cached"
    assert other.record["steps"]["use"]["status"] == "succeeded"
    assert other.record["metrics"] == {"n": len("beta-secret-longer")}
    assert files_holding(store, [b"alpha-secret", b"beta-secret"]) == []
    monkeypatch.delenv("NO_SUCH_VAR_FOR_TEST", raising=False)
    missing = mlops(
        "run", str(nb), "--store", str(store), "-p", "token", "env:NO_SUCH_VAR_FOR_TEST"
    )
    assert missing.returncode == 2
    assert "NO_SUCH_VAR_FOR_TEST" in missing.stderr and "Traceback" not in missing.stderr


def test_secret_tag_must_name_a_string_parameter_on_the_parameters_cell() -> None:
    from compiler_fixtures import compile_cells

    with pytest.raises(CompileError) as info:
        compile_cells(
            code("n = 1", "parameters", "secret:n", "secret:nope"),
            code("m = n", "step:a", "secret:n"),
        )
    text = "\n".join(info.value.messages)
    assert "secret:n: a secret parameter must be a string" in text
    assert "secret:nope: 'nope' is not a parameter" in text
    assert "tag 'secret:n' belongs on the parameters cell" in text
    from compiler_fixtures import notebook

    p = compile_notebook(notebook(code('key = ""', "parameters", "secret:key"), code("k = key")))
    assert p.to_dict()["parameters"] == {"key": {"default": "", "type": "str", "secret": True}}
