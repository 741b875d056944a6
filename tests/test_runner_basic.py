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
