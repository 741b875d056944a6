"""``jupyter mlops compile``: human and JSON output, and one ``error:`` line per problem."""

from __future__ import annotations

import json

import pytest
from compiler_fixtures import code, md, notebook, run_cli, write

GOOD = notebook(
    code("import math", "imports"),
    code("k = 2\nname = 'x'", "parameters"),
    code("data = [1, 2, 3]", "step:load"),
    code("a = [v * k for v in data]", "step:feat_a"),
    code("b = [v + 1 for v in data]", "step:feat_b"),
    code("model = math.fsum(a + b)\nscore = 0.5", "step:train", "model:model", "cache:disabled"),
    code("print(score)", "pipeline-metrics"),
)


def test_human_output(tmp_path):
    result = run_cli(write(tmp_path, GOOD, "good.ipynb"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "  train  (cells 6)  [cache disabled]" in out
    assert "    after: feat_a, feat_b" in out
    assert "    from feat_a: a" in out and "    from feat_b: b" in out
    assert "    from load: data" in out
    assert "  k: int = 2" in out and "  name: str = 'x'" in out
    assert "metrics: score (from train)" in out
    assert "model: model (from train)" in out
    assert result.stderr == ""


def test_json_output(tmp_path):
    result = run_cli(write(tmp_path, GOOD, "good.ipynb"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [s["name"] for s in data["steps"]] == ["load", "feat_a", "feat_b", "train"]
    assert data["steps"][3]["inputs"] == {"a": "feat_a", "b": "feat_b"}
    assert data["model"] == {"step": "train", "variable": "model"}


def test_warnings_go_to_stderr(tmp_path):
    result = run_cli(write(tmp_path, notebook(code("x = 1", "odd-tag")), "w.ipynb"))
    assert result.returncode == 0
    assert result.stderr == "warning: w.ipynb: cell 1: unknown tag 'odd-tag' ignored\n"


INVALID = {
    "undefined-name": (
        [code("a = 1", "step:load"), md(), code("x = 1\n\ny = X_train", "step:train")],
        [
            "nb.ipynb: cell 3 (step 'train'), line 3: 'X_train' is used but no earlier step "
            "defines it"
        ],
    ),
    "syntax-error": (
        [code("a = 1\nb = (1,", "step:a")],
        ["nb.ipynb: cell 1 (step 'a'), line 2: syntax error: '(' was never closed"],
    ),
    "parameter-not-literal": (
        [code("a = 1\nb = a * 2", "parameters"), code("c = b")],
        [
            "nb.ipynb: cell 1 (parameters), line 2: parameter 'b' must be a literal (int, float, "
            "str, bool, None, or a list/tuple/dict of those), not 'a * 2'"
        ],
    ),
    "two-parameters-cells": (
        [code("a = 1", "parameters"), code("b = 1", "parameters"), code("c = a")],
        [
            "nb.ipynb: cell 2: a second parameters cell (the first is cell 1); at most one is "
            "allowed"
        ],
    ),
    "bad-step-name": (
        [code("a = 1", "step:Bad Name")],
        [
            "nb.ipynb: cell 1: malformed tag 'step:Bad Name': a step name must match "
            "^[a-z][a-z0-9_-]{0,62}$ (lowercase letter, then lowercase letters, digits, '_' or '-')"
        ],
    ),
    "empty-step-name": (
        [code("a = 1", "step:")],
        [
            "nb.ipynb: cell 1: malformed tag 'step:': a step name must match "
            "^[a-z][a-z0-9_-]{0,62}$ (lowercase letter, then lowercase letters, digits, '_' or '-')"
        ],
    ),
    "empty-prev": (
        [code("a = 1", "step:a", "prev:")],
        ["nb.ipynb: cell 1: malformed tag 'prev:': expected prev:STEP_NAME"],
    ),
    "empty-model": (
        [code("a = 1", "step:a", "model:")],
        ["nb.ipynb: cell 1: malformed tag 'model:': expected model:VARIABLE (a Python name)"],
    ),
    "non-adjacent-step": (
        [code("a = 1", "step:a"), code("b = 1", "step:b"), md(), code("c = 1", "step:a")],
        [
            "nb.ipynb: cell 4: step 'a' is also on cell 1 but the cells between belong to other "
            "steps (cells 1 and 4 are not adjacent; a step's cells must be consecutive)"
        ],
    ),
    "unknown-prev": (
        [code("a = 1", "step:a"), code("b = 1", "step:b", "prev:zzz")],
        ["nb.ipynb: cell 2 (step 'b'): prev:zzz names no step (steps: a, b)"],
    ),
    "cycle": (
        [code("a = 1", "step:a", "prev:b"), code("b = a", "step:b")],
        ["nb.ipynb: steps form a cycle: a -> b -> a (check the prev: tags)"],
    ),
    "metrics-expression": (
        [code("acc = 1", "step:a"), code("print(acc * 100)", "pipeline-metrics")],
        [
            "nb.ipynb: cell 2 (pipeline-metrics), line 1: only 'print(x)' or 'x' lines are allowed "
            "in a metrics cell: compute it in a step, list it here"
        ],
    ),
    "metric-undefined": (
        [code("acc = 1", "step:a"), code("acc\nf1", "metrics")],
        [
            "nb.ipynb: cell 2 (pipeline-metrics), line 2: metric 'f1' is not defined by any step: "
            "compute it in a step, list it here"
        ],
    ),
    "model-not-assigned": (
        [code("clf = 1", "step:a"), code("x = clf", "step:b", "model:clf")],
        ["nb.ipynb: cell 2 (step 'b'): model:clf: 'clf' is not assigned in step 'b'"],
    ),
    "two-models": (
        [code("m1 = 1", "step:a", "model:m1"), code("m2 = 1", "step:b", "model:m2")],
        [
            "nb.ipynb: cell 2: a second 'model:' tag (the first is on cell 1); at most one is "
            "allowed per notebook"
        ],
    ),
    "setup-uses-step-name": (
        [code("print(df)", "imports"), code("df = 1", "step:a")],
        [
            "nb.ipynb: cell 1 (setup), line 1: 'df' is defined by step 'a'; setup cells may not use "
            "names that steps define"
        ],
    ),
    "conflicting-roles": (
        [code("a = 1", "parameters", "skip"), code("b = 1")],
        ["nb.ipynb: cell 1: conflicting tags 'parameters' and 'skip' (a cell has one role)"],
    ),
    "deleted-name": (
        [code("x = 1", "step:a"), code("del x", "step:b"), code("y = x", "step:c")],
        ["nb.ipynb: cell 3 (step 'c'), line 1: 'x' is used but step 'b' deletes it"],
    ),
    "example-not-expression": (
        [code("X = [1]", "step:a", "example:X[")],
        ["nb.ipynb: cell 1 (step 'a'): malformed tag 'example:X[': not a Python expression"],
    ),
    "example-undefined": (
        [code("m = 1", "step:a", "model:m", "example:X_test[:5]")],
        [
            "nb.ipynb: cell 1 (step 'a'): 'X_test' is used but no earlier step defines it "
            "(read by tag 'example:X_test[:5]')"
        ],
    ),
    "modifier-on-setup": (
        [code("import os", "imports", "model:os"), code("a = 1")],
        ["nb.ipynb: cell 1: tag 'model:os' only applies to a step's cells, not to a 'setup' cell"],
    ),
    "bad-cache-tag": (
        [code("a = 1", "cache:off")],
        [
            "nb.ipynb: cell 1: malformed tag 'cache:off': expected 'cache:disabled' or"
            " 'cache:ttl=DURATION' (e.g. cache:ttl=30s, 10m, 6h, 2d)"
        ],
    ),
    "no-code": (
        [md("# only prose"), code("import os", "imports")],
        [
            "nb.ipynb: no code to run: every code cell is empty or tagged parameters, setup, skip "
            "or metrics"
        ],
    ),
    "several-errors": (
        [code("y = u1", "step:a"), code("z = u2", "step:b", "prev:nope")],
        [
            "nb.ipynb: cell 1 (step 'a'), line 1: 'u1' is used but no earlier step defines it",
            "nb.ipynb: cell 2 (step 'b'), line 1: 'u2' is used but no earlier step defines it",
            "nb.ipynb: cell 2 (step 'b'): prev:nope names no step (steps: a, b)",
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_notebooks(tmp_path, case):
    cells, expected = INVALID[case]
    result = run_cli(write(tmp_path, notebook(*cells), "nb.ipynb"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {line}" for line in expected]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "{not json",
            "error: bad.ipynb: not a notebook (invalid JSON at line 1, column 2: "
            "Expecting property name enclosed in double quotes)",
        ),
        ('{"hello": 1}', "error: bad.ipynb: not a Jupyter notebook (no 'cells' list)"),
        ("[1, 2]", "error: bad.ipynb: not a Jupyter notebook (no 'cells' list)"),
        (
            '{"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}',
            "error: bad.ipynb: notebook format 3 is not supported (need nbformat 4 or later; open "
            "and save it in JupyterLab to upgrade)",
        ),
        (
            '{"nbformat": 4, "cells": [{"source": "x"}]}',
            "error: bad.ipynb: cell 1: not a notebook cell (no 'cell_type')",
        ),
    ],
)
def test_files_that_are_not_notebooks(tmp_path, content, expected):
    path = tmp_path / "bad.ipynb"
    path.write_text(content)
    result = run_cli(path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [expected]


def test_missing_file(tmp_path):
    path = tmp_path / "missing.ipynb"
    result = run_cli(path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {path}: no such notebook"]
