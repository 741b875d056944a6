"""Gate parsing and evaluation (no MLflow)."""

from __future__ import annotations

import pytest

from jupyter_mlops.errors import GateRefused, InvalidInput
from jupyter_mlops.registry.gates import (
    MustBeat,
    check_must_beat,
    check_requires,
    parse_must_beat,
    parse_require,
)
from jupyter_mlops.registry.loading import parse_model_ref


@pytest.mark.parametrize(
    ("spec", "metric", "op", "value"),
    [
        ("accuracy>=0.9", "accuracy", ">=", 0.9),
        ("  rmse < 3 ", "rmse", "<", 3.0),
        ("f1==1", "f1", "==", 1.0),
        ("val/loss<=1e-3", "val/loss", "<=", 0.001),
        ("auc>0.5", "auc", ">", 0.5),
    ],
)
def test_parse_require(spec, metric, op, value):
    req = parse_require(spec)
    assert (req.metric, req.op, req.threshold) == (metric, op, value)


@pytest.mark.parametrize("spec", ["accuracy", "accuracy=>0.9", ">=0.9", "acc>=x", "acc!=1", ""])
def test_parse_require_rejects_bad_syntax(spec):
    with pytest.raises(InvalidInput):
        parse_require(spec)


def test_requires_pass_and_refuse_with_both_values():
    assert check_requires([parse_require("acc>=0.9")], {"acc": 0.95})[0]["passed"]
    with pytest.raises(GateRefused) as err:
        check_requires([parse_require("acc>=0.99")], {"acc": 0.95})
    assert "0.95" in str(err.value) and "0.99" in str(err.value)
    with pytest.raises(InvalidInput, match="no metric 'f1'"):
        check_requires([parse_require("f1>=0.5")], {"acc": 0.95})


def test_must_beat_parse_and_direction():
    assert parse_must_beat("champion:rmse:lower") == MustBeat("champion", "rmse", True)
    assert parse_must_beat("champion:acc") == MustBeat("champion", "acc", False)
    for bad in ("champion", "champion:acc:sideways", ":acc"):
        with pytest.raises(InvalidInput):
            parse_must_beat(bad)
    gate = parse_must_beat("champion:acc")
    assert check_must_beat(gate, {"acc": 0.9}, {"acc": 0.8}, "3")["incumbent_version"] == 3
    with pytest.raises(GateRefused, match=r"0\.8.*0\.9"):
        check_must_beat(gate, {"acc": 0.8}, {"acc": 0.9}, "3")
    lower = parse_must_beat("champion:rmse:lower")
    assert check_must_beat(lower, {"rmse": 1.0}, {"rmse": 2.0}, "1")["passed"]
    with pytest.raises(GateRefused):
        check_must_beat(lower, {"rmse": 2.0}, {"rmse": 2.0}, "1")


def test_model_refs():
    assert parse_model_ref("iris") == ("iris", None, None)
    assert parse_model_ref("iris@champion") == ("iris", None, "champion")
    assert parse_model_ref("models:/iris/3") == ("iris", "3", None)
    assert parse_model_ref("models:/iris@prod") == ("iris", None, "prod")
    assert parse_model_ref("iris", version=2) == ("iris", "2", None)
    with pytest.raises(InvalidInput):
        parse_model_ref("iris@a", version=1)
