"""The tag vocabulary, its aliases, implicit steps, and a Kale-tagged notebook."""

from __future__ import annotations

import pytest
from compiler_fixtures import code, compile_cells, edges, inputs, md, raw

from jupyter_mlops.compiler import CompileError


def errors_of(*cells) -> list[str]:
    with pytest.raises(CompileError) as info:
        compile_cells(*cells)
    return info.value.messages


@pytest.mark.parametrize("tag", ["parameters", "pipeline-parameters"])
def test_parameters_aliases(tag):
    p = compile_cells(code("n = 3", tag), code("m = n * 2"))
    assert p.parameters == {"n": {"default": 3, "type": "int"}}
    assert p.parameters_cell == 0
    assert p.step("main").cells == [1]


@pytest.mark.parametrize("prefix", ["step", "block"])
def test_step_aliases(prefix):
    p = compile_cells(code("a = 1", f"{prefix}:one"), code("b = a", f"{prefix}:two"))
    assert [s.name for s in p.steps] == ["one", "two"]


@pytest.mark.parametrize("prefix", ["prev", "after"])
def test_prev_aliases_add_ordering_edges(prefix):
    p = compile_cells(code("a = 1", "step:one"), code("b = 2", "step:two", f"{prefix}:one"))
    assert edges(p) == {"one": [], "two": ["one"]}
    assert p.step("two").inputs == {}


@pytest.mark.parametrize("tag", ["imports", "functions", "setup"])
def test_setup_aliases(tag):
    p = compile_cells(code("import json", tag), code("s = json.dumps(1)", "step:a"))
    assert p.setup_cells == [0]
    assert p.setup_sources == ["import json"]
    assert p.step("a").inputs == {}


@pytest.mark.parametrize("tag", ["pipeline-metrics", "metrics"])
def test_metrics_aliases(tag):
    p = compile_cells(
        code("acc = 0.9", "step:train"),
        code("loss = 0.1", "step:eval"),
        code("print(acc)\nloss\n", tag),
    )
    assert p.metrics == ["acc", "loss"]
    assert p.metric_steps == {"acc": "train", "loss": "eval"}
    assert p.step("train").outputs == ["acc"]


def test_skip_cells_never_run_and_do_not_break_a_step():
    p = compile_cells(
        code("a = 1", "step:one"),
        code("plot(a)  # exploration, undefined name is fine", "skip"),
        code("b = a + 1"),
    )
    assert p.step("one").cells == [0, 2]


def test_model_example_and_cache_tags():
    p = compile_cells(
        code("X_test = [[1], [2]]", "step:data"),
        code("clf = object()", "step:train", "model:clf", "example:X_test[:5]", "cache:disabled"),
    )
    assert p.model == {"step": "train", "variable": "clf"}
    assert p.example == {"step": "train", "variable": "X_test[:5]"}
    train = p.step("train")
    assert train.cache is False and p.step("data").cache is True
    assert train.inputs == {"X_test": "data"}  # the example needs it at the end of train
    assert train.outputs == ["clf"]


def test_model_tag_on_a_continuation_cell_uses_its_step():
    p = compile_cells(code("x = 1", "step:train"), code("m = x", "model:m"))
    assert p.model == {"step": "train", "variable": "m"}


def test_no_step_tags_is_a_single_main_step():
    p = compile_cells(md(), code("a = 1"), raw(), code("b = a"))
    assert [(s.name, s.cells) for s in p.steps] == [("main", [1, 3])]


def test_cells_before_the_first_step_form_main():
    p = compile_cells(
        code("import os", "imports"),
        code(""),  # blank: no step
        code("base = 1"),
        code("x = base", "step:next"),
    )
    assert [(s.name, s.cells) for s in p.steps] == [("main", [2]), ("next", [3])]
    assert p.step("next").inputs == {"base": "main"}


def test_unknown_tags_warn():
    p = compile_cells(code("a = 1", "step:a", "limit:nvidia.com/gpu:1", "todo"))
    assert p.warnings == [
        "<notebook>: cell 1: unknown tag 'limit:nvidia.com/gpu:1' ignored",
        "<notebook>: cell 1: unknown tag 'todo' ignored",
    ]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("step:", "malformed tag 'step:': a step name must match"),
        ("step:Bad Name", "malformed tag 'step:Bad Name': a step name must match"),
        ("block:1st", "malformed tag 'block:1st': a step name must match"),
        ("prev:", "malformed tag 'prev:': expected prev:STEP_NAME"),
        ("model:", "malformed tag 'model:': expected model:VARIABLE"),
        ("model:a.b", "malformed tag 'model:a.b': expected model:VARIABLE"),
        ("example:", "malformed tag 'example:': expected example:EXPRESSION"),
        ("cache:sometimes", "malformed tag 'cache:sometimes': expected 'cache:disabled' or"),
        ("cache:ttl=soon", "malformed tag 'cache:ttl=soon': expected 'cache:disabled' or"),
        ("cache:ttl=0s", "malformed tag 'cache:ttl=0s': expected 'cache:disabled' or"),
        ("reads:", "malformed tag 'reads:': expected reads:PATH"),
    ],
)
def test_malformed_tags_are_errors(tag, message):
    errors = errors_of(code("a = 1", tag))
    assert len(errors) == 1
    assert errors[0].startswith(f"<notebook>: cell 1: {message}")


def test_step_names_on_non_adjacent_cells():
    errors = errors_of(code("a = 1", "step:x"), code("b = 1", "step:y"), code("c = 1", "step:x"))
    assert errors == [
        "<notebook>: cell 3: step 'x' is also on cell 1 but the cells between belong to other "
        "steps (cells 1 and 3 are not adjacent; a step's cells must be consecutive)"
    ]


def test_repeating_the_current_step_tag_is_fine():
    p = compile_cells(code("a = 1", "step:x"), code("# note", "skip"), code("b = a", "step:x"))
    assert p.step("x").cells == [0, 2]


def test_kale_tagged_notebook_gives_kale_steps_and_edges_plus_data():
    """A Kale 2.x notebook: Kale's DAG comes from step:/prev: only; we keep every
    one of its steps and edges and add the inferred variable passing."""
    p = compile_cells(
        md("# Titanic"),
        code("import numpy as np\nimport pandas as pd", "imports"),
        code("def clean(df):\n    return df.dropna()", "functions"),
        code("TEST_SIZE = 0.2\nSEED = 42", "pipeline-parameters"),
        code("train_df = pd.DataFrame({'Age': [1.0, None, 3.0], 'y': [0, 1, 0]})", "step:loaddata"),
        code("train_df.head()", "skip"),
        code("train_df = clean(train_df)", "step:datapreprocessing", "prev:loaddata"),
        code(
            "X = train_df[['Age']].values\ny = train_df['y'].values",
            "step:featureengineering",
            "prev:datapreprocessing",
        ),
        code(
            "from sklearn.tree import DecisionTreeClassifier\n"
            "dt = DecisionTreeClassifier(random_state=SEED).fit(X, y)\nacc_dt = dt.score(X, y)",
            "step:decisiontree",
            "prev:featureengineering",
        ),
        code(
            "from sklearn.linear_model import LogisticRegression\n"
            "lr = LogisticRegression().fit(X, y)\nacc_lr = lr.score(X, y)",
            "step:logisticregression",
            "prev:featureengineering",
        ),
        code(
            "results = {'dt': acc_dt, 'lr': acc_lr}\nprint(results)",
            "step:results",
            "prev:decisiontree",
            "prev:logisticregression",
        ),
        code("print(acc_dt)\nprint(acc_lr)", "pipeline-metrics"),
    )
    kale_steps = [
        "loaddata",
        "datapreprocessing",
        "featureengineering",
        "decisiontree",
        "logisticregression",
        "results",
    ]
    kale_edges = {
        "loaddata": [],
        "datapreprocessing": ["loaddata"],
        "featureengineering": ["datapreprocessing"],
        "decisiontree": ["featureengineering"],
        "logisticregression": ["featureengineering"],
        "results": ["decisiontree", "logisticregression"],
    }
    assert [s.name for s in p.steps] == kale_steps
    assert edges(p) == kale_edges  # the data edges coincide with Kale's prev: edges here
    assert inputs(p) == {
        "loaddata": {},
        "datapreprocessing": {"train_df": "loaddata"},
        "featureengineering": {"train_df": "datapreprocessing"},
        "decisiontree": {"X": "featureengineering", "y": "featureengineering"},
        "logisticregression": {"X": "featureengineering", "y": "featureengineering"},
        "results": {"acc_dt": "decisiontree", "acc_lr": "logisticregression"},
    }
    assert p.setup_cells == [1, 2] and p.parameters_cell == 3
    assert p.step("decisiontree").params_read == ["SEED"]
    assert p.metric_steps == {"acc_dt": "decisiontree", "acc_lr": "logisticregression"}


def test_prev_edges_are_kept_alongside_data_edges():
    p = compile_cells(
        code("a = 1", "step:one"),
        code("b = 2", "step:two"),
        code("c = a", "step:three", "prev:two"),
    )
    assert edges(p)["three"] == ["one", "two"]


def test_topological_order_follows_prev_over_notebook_order():
    p = compile_cells(
        code("print('report')", "step:report", "prev:train"),
        code("m = 1", "step:train"),
    )
    assert [s.name for s in p.steps] == ["train", "report"]
    assert p.steps[1].cells == [0]


def test_cache_ttl_and_reads_tags():
    p = compile_cells(
        code("rows = open('data/train.csv').read()", "step:load", "reads:data/", "cache:ttl=6h"),
        code("n = len(rows)", "cache:ttl=1h30m", "reads:extra.parquet"),
        code("m = n + 1", "step:use"),
    )
    load = p.step("load")
    assert load.cache_ttl == 5400.0  # the shortest of the step's cells
    assert load.reads == ["data/", "extra.parquet"]
    assert p.step("use").cache_ttl is None and p.step("use").reads == []
    assert p.to_dict()["steps"][0]["cache_ttl"] == 5400.0
    assert "cache_ttl" not in p.to_dict()["steps"][1]


def test_parse_duration():
    from jupyter_mlops.compiler.tags import parse_duration

    assert parse_duration("1s") == 1 and parse_duration("30m") == 1800
    assert parse_duration("6h") == 21600 and parse_duration("2d") == 172800
    assert parse_duration("1.5s") == 1.5 and parse_duration("500ms") == 0.5
    assert parse_duration("1h30m") == 5400
    for bad in ("", "6", "h", "6 h", "-1s", "1x", "0s", "1s2"):
        assert parse_duration(bad) is None, bad


def test_ttl_and_reads_only_on_steps():
    errors = errors_of(code("import os", "setup", "reads:data.csv", "cache:ttl=1h"))
    assert any("tag 'reads:data.csv' only applies to a step's cells" in e for e in errors)
    assert any("tag 'cache:ttl=1h' only applies to a step's cells" in e for e in errors)
