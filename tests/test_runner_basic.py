"""The runner end to end with real kernels and real papermill: parameters, data, records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runner_fixtures import code, markdown, mlops, run_json, statuses, write_notebook

from jupyter_mlops import run_pipeline
from jupyter_mlops.errors import InvalidInput

NASTY = 'He said "hi"\nand \'bye\'\\n """; import os; os._exit(3) #'


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    return write_notebook(
        tmp_path / "chain.ipynb",
        [
            markdown("# A chain\n\nthree steps"),
            code("scale = 2\nlabel = 'plain'\nflags = [1, 2]", "parameters"),
            code("import math", "imports"),
            code("data = [i * scale for i in range(5)]", "step:load"),
            code("def total(xs):\n    return sum(xs) + offset\noffset = 1", "step:define"),
            code("result = total(data)\nroot = math.sqrt(result)\nseen = label", "step:compute"),
            code("result\nroot", "pipeline-metrics"),
        ],
    )


def test_run_passes_data_and_parameters(chain: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    before = chain.read_bytes()
    run = run_pipeline(chain, {"scale": 3}, store=store, report="sync")
    record = run.to_dict()
    assert record["status"] == "succeeded"
    assert statuses(record) == {"load": "succeeded", "define": "succeeded", "compute": "succeeded"}
    assert record["parameters"] == {"scale": 3, "label": "plain", "flags": [1, 2]}
    assert record["metrics"] == {"result": 31, "root": pytest.approx(31**0.5)}
    for name, step in record["steps"].items():
        assert Path(step["notebook"]) == store / "runs" / run.id / f"{name}.ipynb"
        assert Path(step["notebook"]).exists()
        assert (store / "runs" / run.id / f"{name}.log").exists()
    assert Path(record["report"]).read_text().count("<html") == 1
    assert chain.read_bytes() == before


def test_parameter_strings_arrive_verbatim(chain: Path, tmp_path: Path) -> None:
    """A string with quotes, newlines and code is data: it is never executed."""
    code_, record, stderr = run_json(
        str(chain), "--store", str(tmp_path / "s"), "-p", "label", NASTY, "-p", "scale", "1"
    )
    assert code_ == 0, stderr
    assert record["parameters"]["label"] == NASTY
    executed = json.loads(Path(record["steps"]["compute"]["notebook"]).read_text())
    injected = [
        c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    assert len(injected) == 1
    namespace: dict = {}
    exec("".join(injected[0]["source"]), namespace)  # the injected cell only assigns data
    assert namespace["label"] == NASTY
    assert record["metrics"]["result"] == 11


def test_parameter_file_and_types(chain: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("scale: 4\nflags: [3]\n")
    code_, record, stderr = run_json(
        str(chain), "--store", str(tmp_path / "s"), "-f", str(params), "-p", "flags", "[7, 8]"
    )
    assert code_ == 0, stderr
    assert record["parameters"] == {"scale": 4, "label": "plain", "flags": [7, 8]}
    assert record["metrics"]["result"] == 41


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-p", "nope", "1"],
            "unknown parameter 'nope'; the notebook's parameters are: flags, label, scale",
        ),
        (["-p", "scale", "two"], "parameter 'scale' expects int, got 'two'"),
        (["-p", "flags", "{"], "parameter 'flags' expects list"),
        (["-f", "missing.yaml"], "missing.yaml: parameter file not found"),
        (["--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_invalid_parameters_exit_2(chain: Path, tmp_path: Path, args, message) -> None:
    proc = mlops("run", str(chain), "--store", str(tmp_path / "s"), *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "s" / "runs").exists() or not any((tmp_path / "s" / "runs").iterdir())


def test_api_rejects_bad_values(chain: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="parameter 'scale' expects int"):
        run_pipeline(chain, {"scale": "3"}, store=tmp_path / "s")


def test_runs_and_show(chain: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    first = run_pipeline(chain, store=store, report="none")
    second = run_pipeline(chain, {"scale": 5}, store=store, report="none")
    listed = json.loads(mlops("runs", "--store", store, "--json").stdout)
    assert [r["id"] for r in listed] == [second.id, first.id]
    assert listed[0]["status"] == "succeeded"
    shown = mlops("show", first.id, "--store", store)
    assert shown.returncode == 0
    assert f"run {first.id}: succeeded" in shown.stdout
    missing = mlops("show", "nope", "--store", store)
    assert missing.returncode == 2
    assert "error: no run 'nope'" in missing.stderr


def test_functions_and_classes_cross_kernels(tmp_path: Path) -> None:
    """With --isolate every step has a fresh kernel: notebook functions travel by value."""
    nb = write_notebook(
        tmp_path / "fn.ipynb",
        [
            code("factor = 10", "parameters"),
            code(
                "class Box:\n    def __init__(self, v):\n        self.v = v\n"
                "def scaled(x):\n    return Box(x * factor)",
                "step:define",
            ),
            code("value = scaled(4).v", "step:use"),
            code("value", "metrics"),
        ],
    )
    code_, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), "--isolate")
    assert code_ == 0, stderr
    assert record["metrics"] == {"value": 40}


def test_concurrent_runs_share_a_store(chain: Path, tmp_path: Path) -> None:
    """Several run processes at once on one store: every run recorded, nothing corrupted."""
    import subprocess
    import sys

    from runner_fixtures import cli_env

    store = str(tmp_path / "shared")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_mlops.cli.app",
                "run",
                str(chain),
                "--store",
                store,
                "-p",
                "scale",
                str(scale),
                "--json",
            ],
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for scale in (1, 2, 3)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    errors = [[ln for ln in err.splitlines() if ln.startswith("error:")] for _, err in results]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    records = [json.loads(out) for out, _ in results]
    assert sorted(r["metrics"]["result"] for r in records) == [11, 21, 31]
    listed = json.loads(mlops("runs", "--store", store, "--notebook", str(chain), "--json").stdout)
    assert sorted(r["id"] for r in listed) == sorted(r["id"] for r in records)
    assert all(r["status"] == "succeeded" for r in listed)


def test_cli_run_writes_the_report_in_the_background(chain: Path, tmp_path: Path) -> None:
    import time

    code_, record, stderr = run_json(str(chain), "--store", str(tmp_path / "s"))
    assert code_ == 0, stderr
    report = Path(record["steps"]["load"]["notebook"]).parent / "report.html"
    deadline = time.monotonic() + 60
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = report.read_text()
    assert f"Run {record['id']}: succeeded" in text
    assert "step:compute" in text or "compute" in text


def test_record_has_git_state_and_output_digests(chain: Path, tmp_path: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", chain.name)
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "nb")
    clean = run_pipeline(chain, store=tmp_path / "s", report="none").to_dict()
    assert clean["git"]["dirty"] is False and len(clean["git"]["commit"]) == 40
    assert set(clean["steps"]["load"]["outputs"]) == {"data"}
    assert len(clean["steps"]["load"]["outputs"]["data"]) == 64
    chain.write_text(chain.read_text().replace("scale = 2", "scale = 3"))
    dirty = run_pipeline(chain, store=tmp_path / "s", report="none").to_dict()
    assert dirty["git"]["dirty"] is True


@pytest.mark.parametrize(
    ("kernelspec", "message"),
    [
        (
            {"name": "no-such-kernel", "display_name": "X", "language": "python"},
            "kernel 'no-such-kernel' (from the notebook's metadata) is not installed",
        ),
    ],
)
def test_missing_kernel_is_invalid_input(tmp_path: Path, kernelspec, message) -> None:
    import nbformat

    nb = write_notebook(tmp_path / "k.ipynb", [code("x = 1", "step:one")])
    doc = nbformat.read(str(nb), as_version=4)
    doc.metadata["kernelspec"] = kernelspec
    nbformat.write(doc, str(nb))
    proc = mlops("run", str(nb), "--store", str(tmp_path / "s"))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_non_python_kernel_is_invalid_input(tmp_path: Path, monkeypatch) -> None:
    import nbformat

    kernels = tmp_path / "data" / "kernels" / "ir"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps({"argv": ["R"], "display_name": "R", "language": "R"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "data"))
    nb = write_notebook(tmp_path / "r.ipynb", [code("x <- 1", "step:one")])
    doc = nbformat.read(str(nb), as_version=4)
    doc.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nbformat.write(doc, str(nb))
    with pytest.raises(InvalidInput, match=r"r.ipynb: this is a r notebook \(kernel 'ir'\)"):
        run_pipeline(nb, store=tmp_path / "s")
    # a Python-language notebook naming a kernel whose spec runs another language
    doc.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "python"}
    doc.cells[0].source = "x = 1"
    nbformat.write(doc, str(nb))
    with pytest.raises(InvalidInput, match="kernel 'ir' runs R; jupyter-mlops pipelines need"):
        run_pipeline(nb, store=tmp_path / "s")


def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    listed = mlops("runs", "--store", str(missing))
    assert listed.returncode == 0 and listed.stdout.strip() == "no runs"
    shown = mlops("show", "20260101-000000-abcdef", "--store", str(missing))
    assert shown.returncode == 2
    assert f"error: no run store at {missing}" in shown.stderr
    published = mlops("publish", "latest", "--name", "m", "--store", str(missing))
    assert published.returncode == 2
    assert "no run store at" in published.stderr
    assert not missing.exists()


@pytest.mark.parametrize(("flag", "expected"), [("false", 2), ("true", 3)])
def test_conditional_rebinding_keeps_the_earlier_value(tmp_path: Path, flag, expected) -> None:
    """In fresh kernels too, a step that rebinds a name only sometimes passes it on."""
    nb = write_notebook(
        tmp_path / "cond.ipynb",
        [
            code("flag = False", "parameters"),
            code("x = 1", "step:one"),
            code("if flag:\n    x = 2", "step:two"),
            code("y = x + 1", "step:three"),
            code("y", "metrics"),
        ],
    )
    code_, record, stderr = run_json(
        str(nb), "--store", str(tmp_path / "s"), "--isolate", "-p", "flag", flag
    )
    assert code_ == 0, stderr
    assert record["metrics"] == {"y": expected}
