"""The parts of ``verify`` that need no kernel: value comparison and the explanations."""

from __future__ import annotations

import math

import nbformat
import numpy as np
import pandas as pd
from runner_fixtures import code

from jupyter_mlops.compiler import compile_notebook
from jupyter_mlops.runner.compare import abridge, first_difference
from jupyter_mlops.runner.verify_causes import explain


class Model:
    def __init__(self, coef):
        self.coef_ = coef
        self.name = "m"


def test_numpy_and_floats_within_the_tolerance():
    a = np.array([[1.0, 2.0], [3.0, np.nan]])
    assert first_difference(a, a + 1e-12, 1e-9) is None
    assert first_difference(a, a.copy(), 0) is None  # NaN equals NaN
    b = a.copy()
    b[1, 0] = 3.1
    assert first_difference(a, b, 1e-9) == "[1, 0]"
    assert first_difference(a, b, 0.1) is None
    assert first_difference(a, a[:1], 1e-9) == " (shape (2, 2) vs (1, 2))"
    assert first_difference(np.float64(0.5), 0.5, 0) is None
    assert first_difference(np.arange(3), np.array([0, 1, 3]), 1e-9) == "[2]"
    assert first_difference(math.nan, math.nan, 0) is None
    assert first_difference(1, 1.0000000001, 1e-9) is None
    assert first_difference(1, 2, 0.5) == ""  # ints are compared exactly... as numbers


def test_pandas_nested_containers_and_objects():
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert first_difference(df, df.copy(), 1e-9) is None
    changed = df.copy()
    changed.loc[1, "a"] = 2.5
    assert first_difference(df, changed, 1e-9).startswith(" (DataFrame.iloc[:, 0]")
    assert first_difference({"k": [1, 2, {"z": 3}]}, {"k": [1, 2, {"z": 4}]}, 0) == "['k'][2]['z']"
    assert first_difference([1, 2, 3], [1, 2], 0) == " (length 3 vs 2)"
    assert first_difference({"a": 1}, {"b": 1}, 0) == " (keys differ: 'a', 'b')"
    assert first_difference(Model(np.ones(3)), Model(np.ones(3)), 0) is None
    assert first_difference(Model(np.ones(3)), Model(np.zeros(3)), 0) == ".coef_[0]"
    assert first_difference("a", "a", 0) is None and first_difference("a", "b", 0) == ""
    assert first_difference({1, 2}, {2, 1}, 0) is None


def test_abridged_values_are_one_short_line():
    assert abridge([1, 2, 3]) == "[1, 2, 3]"
    assert len(abridge(list(range(1000)))) <= 100
    assert "\n" not in abridge(pd.DataFrame({"a": range(100)}))
    assert abridge(np.arange(1000)).startswith("array([ 0, 1, 2, ..., 997, 998, 999]")


def _pipeline(*cells):
    return compile_notebook(nbformat.v4.new_notebook(cells=list(cells)))


def test_a_skipped_cell_that_changes_a_value():
    pipeline = _pipeline(
        code("x = [1]", "step:a"), code("x.append(2)", "skip"), code("y = len(x)", "step:b")
    )
    cause, fix = explain(pipeline, "input", "x", "b", "a")
    assert cause.startswith("cell 2 (not part of any step: skip or metrics) changes 'x'")
    assert "remove its skip tag" in fix


def test_a_change_through_another_name():
    pipeline = _pipeline(
        code("x = [1]", "step:a"),
        code("alias = x\nalias.append(2)\nn = 1", "step:m"),
        code("y = len(x)", "step:b"),
    )
    cause, fix = explain(pipeline, "input", "x", "b", "a")
    assert "changes 'alias', another name for the object 'x'" in cause
    assert "alias = x.copy()" in fix


def test_a_generator_seeded_once_in_a_setup_cell():
    pipeline = _pipeline(
        code("import random\nrandom.seed(0)", "step:seed"),
        code("a = random.random()", "step:one"),
        code("b = random.random()", "step:two"),
    )
    cause, fix = explain(pipeline, "output", "b", "two")
    assert "seeded once in cell 1 (step 'seed')" in cause
    assert "seed in step 'two' itself" in fix
    seeded = _pipeline(code("import random\nrandom.seed(1)\na = random.random()", "step:one"))
    cause, _ = explain(seeded, "output", "a", "one")
    assert "random" not in cause.split(":")[0]  # seeded in the step: not the cause


def test_an_unseeded_estimator_and_the_clock():
    pipeline = _pipeline(
        code("from sklearn.ensemble import RandomForestClassifier", "setup"),
        code("clf = RandomForestClassifier(n_estimators=3)", "step:fit"),
    )
    cause, _ = explain(pipeline, "output", "clf", "fit")
    assert (
        cause.startswith("unseeded randomness: step 'fit'") and "RandomForestClassifier(" in cause
    )
    clock = _pipeline(code("import datetime\nnow = datetime.datetime.now()", "step:t"))
    cause, fix = explain(clock, "output", "now", "t")
    assert "reads the clock (datetime.now" in cause and "parameter" in fix


def test_an_object_whose_method_reads_a_global_changed_later():
    pipeline = _pipeline(
        code("rate = 2\nclass Scaler:\n    def apply(self, x):\n        return x * rate\n"
             "scaler = Scaler()", "step:define"),
        code("rate = 10", "step:change"),
        code("y = scaler.apply(3)", "step:use"),
    )  # fmt: skip
    cause, fix = explain(pipeline, "output", "y", "use")
    assert "uses Scaler, defined in cell 1 (step 'define'), which reads the global 'rate'" in cause
    assert "pass 'rate' to Scaler as an argument" in fix
