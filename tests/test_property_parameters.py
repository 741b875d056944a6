"""Property test: any parameter value arrives in the kernel exactly, or is refused up front.

Thirty parameters per run (one real kernel run per Hypothesis example): floats with
inf/nan/-0.0, ints up to Python's int/str digit limit, strings with any Unicode and control
characters, nested lists and string-keyed dicts. The step makes the list of values it
received its model, so the test reads them back from the run's artifact (cloudpickle keeps
float bits and exact types) and compares them with what it sent.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runner_fixtures import cli_env, code, write_notebook

from jupyter_mlops import run_pipeline
from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.serialization import load

ANY = [f"a{i}" for i in range(20)]
FLOATS = [f"f{i}" for i in range(4)]
STRS = [f"s{i}" for i in range(3)]
INTS = [f"i{i}" for i in range(3)]
NAMES = ANY + FLOATS + STRS + INTS
LIMIT = getattr(sys, "get_int_max_str_digits", lambda: 4300)() or 4300

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)  # Cs: surrogates
ints = st.one_of(
    st.integers(),
    # up to LIMIT digits (10**LIMIT - 1 is the largest int that still has a str), cheaply
    st.tuples(st.integers(1, LIMIT), st.integers(-(10**6), 10**6)).map(
        lambda t: int("9" * t[0]) - abs(t[1]) if t[1] >= 0 else -int("9" * t[0]) + abs(t[1])
    ),
)
floats = st.one_of(st.floats(), st.sampled_from([math.inf, -math.inf, math.nan, -0.0, 1e308]))
scalars = st.one_of(st.none(), st.booleans(), ints, floats, text)
data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=10,
)
values = st.fixed_dictionaries(
    {
        **dict.fromkeys(ANY, data),
        **dict.fromkeys(FLOATS, floats),
        **dict.fromkeys(STRS, text),
        **dict.fromkeys(INTS, ints),
    }
)


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("property")
    defaults = [f"{n} = None" for n in ANY] + [f"{n} = 0.0" for n in FLOATS]
    defaults += [f"{n} = ''" for n in STRS] + [f"{n} = 0" for n in INTS]
    return write_notebook(
        folder / "values.ipynb",
        [
            code("\n".join(defaults), "parameters"),
            code(f"received = [{', '.join(NAMES)}]", "step:echo", "model:received"),
        ],
    )


def same(sent: Any, got: Any) -> bool:
    """Equal, of the same type, NaN matching NaN and -0.0 only -0.0."""
    if type(sent) is not type(got):
        return False
    if isinstance(sent, float):
        if math.isnan(sent):
            return math.isnan(got)
        return sent == got and math.copysign(1, sent) == math.copysign(1, got)
    if isinstance(sent, list):
        return len(sent) == len(got) and all(map(same, sent, got))
    if isinstance(sent, dict):
        return list(sent) == list(got) and all(same(sent[k], got[k]) for k in sent)
    return sent == got


@pytest.mark.slow
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(values)
def test_values_arrive_exactly(notebook: Path, tmp_path_factory, values: dict) -> None:
    store = tmp_path_factory.getbasetemp() / "property-store"
    run = run_pipeline(notebook, values, store=store, report="none", use_cache=False)
    record = run.to_dict()
    assert record["status"] == "succeeded", record["steps"]["echo"]["error"]
    received = load(record["model"]["artifact"])
    for name, got in zip(NAMES, received, strict=True):
        assert same(values[name], got), (name, values[name], got)


@settings(max_examples=25, deadline=None)
@given(
    st.one_of(
        st.integers(1, 50).map(lambda extra: ("i0", 10 ** (LIMIT - 1 + extra))),
        st.integers(min_value=101, max_value=400).map(
            lambda depth: ("a0", [[]] if depth == 0 else _nested(depth))
        ),
        st.text(st.characters(categories=("Cs",)), min_size=1, max_size=3).map(
            lambda s: ("s0", "x" + s)
        ),
        st.dictionaries(st.integers(), st.none(), min_size=1, max_size=3).map(lambda d: ("a1", d)),
    )
)
def test_values_that_cannot_arrive_are_refused_up_front(notebook: Path, tmp_path_factory, case):
    name, value = case
    store = tmp_path_factory.getbasetemp() / "refused-store"
    with pytest.raises(InvalidInput, match=f"parameter '{name}'"):
        run_pipeline(notebook, {name: value}, store=store, report="none")
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@settings(max_examples=3, deadline=None)
@given(st.integers(min_value=LIMIT + 1, max_value=LIMIT + 2000))
def test_cli_refuses_ints_beyond_the_digit_limit(notebook: Path, tmp_path_factory, digits):
    store = tmp_path_factory.getbasetemp() / "cli-store"
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(notebook), "--store",
         str(store), "-p", "i1", "9" * digits],
        capture_output=True, text=True, env=cli_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: parameter 'i1': an integer with more digits than Python's int/str limit ({LIMIT})"
    )
