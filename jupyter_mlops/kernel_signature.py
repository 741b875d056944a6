"""An MLflow model signature and input example, described in the kernel's own Python.

MLflow's ``infer_signature`` and input-example files need MLflow (≈ 2–3 s to import). For
the common cases — a numeric/boolean numpy array, or a pandas DataFrame of named numeric,
boolean and string columns, predicting a numeric array or Series — this module writes
exactly what MLflow writes (tests compare the two), with the standard library plus the
numpy/pandas the objects already belong to. Anything else answers ``None`` and the
publisher asks MLflow. Only the standard library is imported at module level.
"""

from __future__ import annotations

import json
from typing import Any

# numpy dtype kind/size -> MLflow column type (for DataFrame columns and Series)
_COLUMN_TYPES = {
    ("b", 1): "boolean",
    ("i", 4): "integer",
    ("i", 8): "long",
    ("f", 4): "float",
    ("f", 8): "double",
}
_TENSOR_KINDS = frozenset("biuf")  # bool, signed, unsigned, float


def _is_ndarray(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def _is_pandas(value: Any, name: str) -> bool:
    return type(value).__module__.startswith("pandas") and type(value).__name__ == name


def _tensor(value: Any) -> list[dict] | None:
    if value.dtype.kind not in _TENSOR_KINDS or value.ndim == 0 or value.shape[0] == 0:
        return None
    shape = [-1, *(int(n) for n in value.shape[1:])]
    return [{"type": "tensor", "tensor-spec": {"dtype": str(value.dtype), "shape": shape}}]


def _column_type(series: Any) -> str | None:
    dtype = series.dtype
    numpy_dtype = type(dtype).__module__.startswith("numpy")
    if numpy_dtype and getattr(dtype, "kind", None) in ("b", "i", "f"):
        return _COLUMN_TYPES.get((dtype.kind, dtype.itemsize))
    if str(dtype) in ("object", "str", "string") and all(isinstance(v, str) for v in series):
        return "string"
    return None


def _columns(frame: Any) -> list[dict] | None:
    if len(frame) == 0 or not all(isinstance(c, str) for c in frame.columns):
        return None
    if len(set(frame.columns)) != len(frame.columns):
        return None
    specs = []
    for name in frame.columns:
        column = frame[name]
        kind = _column_type(column)
        if kind is None or column.isna().any():
            return None
        specs.append({"type": kind, "name": name, "required": True})
    return specs


def _output(value: Any) -> list[dict] | None:
    if _is_ndarray(value):
        return _tensor(value)
    if _is_pandas(value, "Series") and value.name is None and len(value):
        kind = _column_type(value)
        if kind is None or value.isna().any():
            return None
        return [{"type": kind, "required": True}]
    return None


def _example(value: Any) -> dict[str, Any] | None:
    """MLflow's ``input_example.json`` / ``serving_input_example.json`` texts."""
    if _is_ndarray(value):
        data = value.tolist()
        return {
            "info": {"artifact_path": "input_example.json", "type": "ndarray",
                     "serving_input_path": "serving_input_example.json"},
            "input": json.dumps(data),
            "serving": json.dumps({"inputs": data}, indent=2),
        }  # fmt: skip
    columns = list(value.columns)
    rows = [list(row) for row in zip(*(value[c].tolist() for c in columns), strict=True)]
    split = {"columns": columns, "data": rows}
    return {
        "info": {"artifact_path": "input_example.json", "type": "dataframe",
                 "pandas_orient": "split", "serving_input_path": "serving_input_example.json"},
        "input": json.dumps(split),
        "serving": json.dumps({"dataframe_split": split}, indent=2),
    }  # fmt: skip


def describe(example: Any, prediction: Any) -> dict[str, Any] | None:
    """``{"signature": {"inputs", "outputs", "params"}, "example": {...}}`` as MLflow would
    write them for this example and prediction, or None when this module cannot be sure."""
    try:
        if _is_ndarray(example):
            inputs = _tensor(example)
        elif _is_pandas(example, "DataFrame"):
            inputs = _columns(example)
        else:
            return None
        outputs = _output(prediction)
        if inputs is None or outputs is None:
            return None
        return {
            "signature": {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs),
                          "params": None},
            "example": _example(example),
        }  # fmt: skip
    except Exception:  # noqa: BLE001 - unsure: MLflow decides
        return None
