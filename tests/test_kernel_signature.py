"""kernel_signature.describe answers exactly what MLflow's infer_signature and input-example
files say, or None (then MLflow decides)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.kernel_signature import describe


def _mlflow(example, prediction, tmp: Path) -> dict:
    from mlflow.models import Model, infer_signature
    from mlflow.models.utils import _save_example

    model = Model()
    _save_example(model, example, str(tmp))
    return {
        "signature": infer_signature(example, prediction).to_dict(),
        "info": model.saved_input_example_info,
        "input": (tmp / "input_example.json").read_text(),
        "serving": (tmp / "serving_input_example.json").read_text(),
    }


FRAME = pd.DataFrame(
    {
        "long": [1, 2, 3],
        "double": [1.5, 2.0, -0.1],
        "text": ["x", "y", "z"],
        "flag": [True, False, True],
        "int32": np.array([1, 2, 3], dtype=np.int32),
        "float32": np.array([1.0, 0.1, 2.5], dtype=np.float32),
    }
)
SUPPORTED = {
    "float matrix -> int labels": (np.array([[1.0, 2.5], [3, 4]]), np.array([0, 1])),
    "int32 matrix -> floats": (np.array([[1, 2]], dtype=np.int32), np.array([0.5])),
    "bool matrix -> bools": (np.array([[True], [False]]), np.array([True, False])),
    "3-d tensor -> 2-d": (np.zeros((2, 3, 4)), np.zeros((2, 5))),
    "frame -> int Series": (FRAME, pd.Series([1, 0, 1])),
    "frame -> float array": (FRAME, np.array([0.25, 0.5, 1.0])),
    "frame slice (index not at 0)": (FRAME.iloc[1:], np.array([1, 2])),
    "iris-like columns with spaces": (
        pd.DataFrame({"sepal length (cm)": [5.1, 4.9]}),
        np.array([0, 0]),
    ),
}


@pytest.mark.parametrize("case", SUPPORTED)
def test_supported_cases_match_mlflow(case, tmp_path):
    example, prediction = SUPPORTED[case]
    ours = describe(example, prediction)
    assert ours is not None
    theirs = _mlflow(example, prediction, tmp_path)
    assert ours["signature"] == theirs["signature"]
    assert ours["example"]["info"] == theirs["info"]
    assert ours["example"]["input"] == theirs["input"]
    assert ours["example"]["serving"] == theirs["serving"]
    json.loads(ours["example"]["serving"])


UNSURE = {
    "missing values": (pd.DataFrame({"a": [1.0, np.nan]}), np.array([0, 1])),
    "int column names": (pd.DataFrame({0: [1.0], 1: [2.0]}), np.array([0])),
    "mixed object column": (pd.DataFrame({"a": ["x", 1]}), np.array([0, 1])),
    "datetime column": (pd.DataFrame({"t": pd.to_datetime(["2024-01-01"])}), np.array([0])),
    "string predictions": (np.array([[1.0]]), np.array(["a"])),
    "named Series output": (FRAME, pd.Series([1, 0, 1], name="label")),
    "a list": ([[1, 2]], [1]),
    "empty frame": (FRAME.iloc[:0], np.array([], dtype=np.int64)),
    "a dict": ({"a": 1}, np.array([1])),
}


@pytest.mark.parametrize("case", UNSURE)
def test_anything_else_is_left_to_mlflow(case):
    example, prediction = UNSURE[case]
    assert describe(example, prediction) is None
