"""The Python API: loading, to_dict's exact shape, runner attributes, normalize_code."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from compiler_fixtures import REPO, code, md, notebook, write

from jupyter_mlops.compiler import CompileError, Pipeline, Step, compile_notebook, normalize_code
from jupyter_mlops.errors import InvalidInput, NotFound


def sample():
    return notebook(
        md("# title"),
        code("import math", "imports"),
        code("k = 2", "parameters"),
        code("%matplotlib inline\ndata = [1, 2, 3]", "step:load"),
        code(
            "total = sum(data) * k\nmodel = math.sqrt(total)",
            "step:train",
            "model:model",
            "example:data[:2]",
            "cache:disabled",
        ),
        code("total", "metrics"),
        kernel="python3-custom",
    )


def test_to_dict_is_exactly_the_documented_shape(tmp_path):
    path = write(tmp_path, sample(), "train.ipynb")
    p = compile_notebook(path)
    assert p.to_dict() == {
        "notebook": str(path),
        "kernel": "python3-custom",
        "parameters": {"k": {"default": 2, "type": "int"}},
        "steps": [
            {
                "name": "load",
                "cells": [3],
                "upstream": [],
                "inputs": {},
                "outputs": ["data"],
                "cache": True,
                "inplace": [],
                "params_read": [],
                "defines": ["data"],
            },
            {
                "name": "train",
                "cells": [4],
                "upstream": ["load"],
                "inputs": {"data": "load"},
                "outputs": ["model", "total"],
                "cache": False,
                "inplace": [],
                "params_read": ["k"],
                "defines": ["model", "total"],
            },
        ],
        "metrics": ["total"],
        "model": {"step": "train", "variable": "model"},
        "example": {"step": "train", "variable": "data[:2]"},
        "warnings": [],
    }
    json.dumps(p.to_dict())  # JSON-able


def test_runner_attributes(tmp_path):
    nb = sample()
    p = compile_notebook(nb)
    assert isinstance(p, Pipeline) and p.nb is nb and p.path is None
    assert p.setup_cells == [1] and p.setup_sources == ["import math"]
    assert p.parameters_cell == 2
    assert p.metric_steps == {"total": "train"}
    train = p.step("train")
    assert isinstance(train, Step)
    assert train.sources == [nb.cells[4].source]
    assert train.params_read == ["k"]
    assert p.step("load").sources == ["%matplotlib inline\ndata = [1, 2, 3]"]
    with pytest.raises(KeyError):
        p.step("nope")
    assert p.to_dict()["notebook"] is None and p.kernel == "python3-custom"


def test_accepts_a_plain_dict_and_a_path_string(tmp_path):
    path = write(tmp_path, sample())
    as_dict = json.loads(path.read_text())
    assert (
        compile_notebook(as_dict).to_dict()["steps"]
        == compile_notebook(str(path)).to_dict()["steps"]
    )
    nb = nbformat.read(str(path), as_version=4)
    assert compile_notebook(nb).kernel == "python3-custom"


def test_default_kernel_is_python3():
    p = compile_notebook(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "source": ["a = 1\n", "b = a"],
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
            ],
        }
    )
    assert p.kernel == "python3"
    assert p.step("main").sources == ["a = 1\nb = a"]


def test_load_errors(tmp_path):
    with pytest.raises(NotFound):
        compile_notebook(tmp_path / "missing.ipynb")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(InvalidInput, match="invalid JSON"):
        compile_notebook(bad)
    with pytest.raises(InvalidInput, match="nbformat 4 or later"):
        compile_notebook({"nbformat": 3, "cells": []})
    with pytest.raises(InvalidInput, match="no 'cells' list"):
        compile_notebook({"nbformat": 4})


def test_compile_error_is_an_invalid_input():
    with pytest.raises(InvalidInput) as info:
        compile_notebook(notebook(code("y = x")))
    assert isinstance(info.value, CompileError)
    assert info.value.exit_code == 2


def test_syntax_errors_name_cell_and_line():
    with pytest.raises(CompileError) as info:
        compile_notebook(notebook(code("a = 1", "step:a"), code("b = (\nc = 2", "step:b")))
    assert len(info.value.messages) == 1
    assert info.value.messages[0].startswith("<notebook>: cell 2 (step 'b'), line 1: syntax error:")


def test_normalize_code_ignores_comments_blank_lines_and_spacing():
    a = normalize_code("x=1  # set x\n\n\ny = [ x ,2 ]\n")
    b = normalize_code("# header\nx = 1\ny = [x, 2]")
    assert a == b == "x = 1\ny = [x, 2]"
    assert normalize_code("x = 1") != normalize_code("x = 2")
    assert normalize_code("%matplotlib inline\nx = 1") == normalize_code(
        "%matplotlib inline\n\nx=1  # c"
    )
    assert normalize_code("  def broken(:\n") == "def broken(:"


def test_compiling_imports_nothing_heavy():
    script = (
        "import sys\n"
        "from jupyter_mlops.compiler import compile_notebook\n"
        "compile_notebook({'nbformat': 4, 'metadata': {}, 'cells': [{'cell_type': 'code', "
        "'metadata': {}, 'source': 'x = 1'}]})\n"
        "heavy = [m for m in ('nbformat', 'IPython', 'papermill', 'mlflow', 'pandas', "
        "'jupyter_server', 'numpy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        env={"PYTHONPATH": str(REPO)},
    )
    assert out.stdout.strip() == ""


def test_ipython_is_imported_only_for_ipython_syntax():
    script = (
        "import sys\n"
        "from jupyter_mlops.compiler import normalize_code\n"
        "normalize_code('x = 1')\n"
        "print('IPython' in sys.modules)\n"
        "normalize_code('%time x = 1\\n!ls')\n"
        "print('IPython' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        env={"PYTHONPATH": str(REPO)},
    )
    assert out.stdout.split() == ["False", "True"]


def test_defines_lists_every_name_a_step_assigns():
    """``defines``: what the role editor offers for ``model:``/``example:`` (not only the
    names later steps read, which ``outputs`` holds)."""
    nb = notebook(
        code("raw = [3, 1, 2]\n_tmp = 0", "step:load"),
        code("clf = sorted(raw)\nunused = len(clf)", "step:train"),
    )
    steps = compile_notebook(nb).to_dict()["steps"]
    assert [s["defines"] for s in steps] == [["raw"], ["clf", "unused"]]
    assert [s["outputs"] for s in steps] == [["raw"], []]
