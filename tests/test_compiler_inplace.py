"""In-place writes the compiler can see make the writing step the producer of the name."""

from __future__ import annotations

import json

from compiler_fixtures import code, compile_cells, edges, inputs, notebook, run_cli, write


def test_fit_in_a_middle_step_makes_it_the_producer_of_the_model():
    p = compile_cells(
        code("from sklearn.linear_model import LogisticRegression", "imports"),
        code("clf = LogisticRegression()\nX = [[0], [1]]\ny = [0, 1]", "step:build"),
        code("clf.fit(X, y)", "step:fit"),
        code("pred = clf.predict(X)", "step:use"),
    )
    assert inputs(p)["use"] == {"X": "build", "clf": "fit"}
    assert edges(p)["use"] == ["build", "fit"]
    assert p.step("fit").outputs == ["clf"] and p.step("fit").inplace == ["clf"]
    assert p.step("build").inplace == []
    assert p.to_dict()["steps"][1]["inplace"] == ["clf"]


def test_each_visible_kind_of_in_place_write():
    kinds = {
        "append": "lst.append(3)",
        "item": "lst[0] = 9",
        "attr": "lst.note = 1",
        "del_item": "del lst[0]",
        "aug_item": "lst[0] += 1",
        "aug_name": "lst += [4]",
        "chained": "lst.extend([1]).bit_length()",
        "inplace_kw": "lst.drop(columns=['a'], inplace=True)",
        "sort_values": "lst.sort_values('a', inplace=True)",
        "loc": "lst.loc[0, 'a'] = 1",
        "nested": "lst.attr.items[0].clear()",
    }
    for label, statement in kinds.items():
        p = compile_cells(
            code("lst = [1, 2]", "step:make"),
            code(statement, "step:change"),
            code("n = len(lst)", "step:read"),
        )
        assert inputs(p)["read"] == {"lst": "change"}, label
        assert p.step("change").inplace == ([] if label == "aug_name" else ["lst"]), label


def test_methods_known_not_to_change_their_object_do_not_count():
    for statement in (
        "df.head()",
        "df.describe()",
        "df.plot()",
        "df.copy()",
        "df.groupby('a').mean()",
        "df.head().plot()",
        "df.to_csv('x.csv')",
        "df.drop(columns=['a'], inplace=False)",
        "print(df)",
        "x = df.append(1)",  # result used: a new binding, not an in-place write
    ):
        p = compile_cells(
            code("df = {'a': 1}", "step:make"),
            code(statement, "step:look"),
            code("n = len(df)", "step:read"),
        )
        assert inputs(p)["read"] == {"df": "make"}, statement
        assert p.step("look").inplace == [], statement


def test_a_sibling_before_the_change_still_reads_the_original():
    p = compile_cells(
        code("lst = [1]", "step:make"),
        code("first = list(lst)", "step:before"),
        code("lst.append(2)", "step:change"),
        code("after = list(lst)", "step:after"),
    )
    assert inputs(p)["before"] == {"lst": "make"}
    assert inputs(p)["after"] == {"lst": "change"}
    assert inputs(p)["change"] == {"lst": "make"}


def test_modules_parameters_and_setup_names_are_not_produced_by_a_step():
    p = compile_cells(
        code("seed = 1", "parameters"),
        code("import random\nconfig = {}", "setup"),
        code("import math\nvals = [1]", "step:make"),
        code(
            "random.seed(seed)\nmath.prod(vals)\nconfig['a'] = 1\nconfig.update(b=2)",
            "step:change",
        ),
        code("r = random.random() + math.pi + len(config)", "step:read"),
    )
    assert inputs(p)["read"] == {"math": "make"}
    assert p.step("change").inplace == []
    warnings = " ".join(p.warnings)
    assert "changes setup name 'config' in place" in warnings
    assert "random" not in warnings and "math" not in warnings


def test_a_value_built_in_the_same_step_is_local():
    p = compile_cells(
        code("lst = [1]", "step:make"),
        code("lst = []\nlst.append(1)", "step:rebuild"),
        code("n = len(lst)", "step:read"),
    )
    assert inputs(p)["rebuild"] == {}
    assert inputs(p)["read"] == {"lst": "rebuild"}
    assert p.step("rebuild").inplace == []


def test_a_later_rebinding_is_not_reported_as_in_place():
    p = compile_cells(
        code("lst = [1]", "step:make"),
        code("lst.append(2)\nlst = lst + [3]", "step:change"),
        code("n = len(lst)", "step:read"),
    )
    assert inputs(p)["read"] == {"lst": "change"}
    assert p.step("change").inplace == []


def test_compile_shows_in_place_edges(tmp_path):
    path = write(
        tmp_path,
        notebook(
            code("clf = {'fitted': False}\nX = 1", "step:build"),
            code("clf.update(fitted=True)", "step:fit"),
            code("pred = (clf, X)", "step:use"),
        ),
    )
    out = run_cli(path)
    assert out.returncode == 0, out.stderr
    assert "from fit: clf (changed in place)" in out.stdout
    assert "from build: X\n" in out.stdout
    data = json.loads(run_cli(path, "--json").stdout)
    assert [s["inplace"] for s in data["steps"]] == [[], ["clf"], []]
