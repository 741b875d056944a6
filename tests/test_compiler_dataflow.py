"""Data-flow inference: which variables pass between steps, and the edges they imply."""

from __future__ import annotations

import pytest
from compiler_fixtures import code, compile_cells, edges, inputs, md

from jupyter_mlops.compiler import CompileError


def errors_of(*cells) -> list[str]:
    with pytest.raises(CompileError) as info:
        compile_cells(*cells)
    return info.value.messages


def test_diamond_is_inferred_without_prev_tags():
    p = compile_cells(
        code("import pandas as pd", "imports"),
        code("df = pd.DataFrame({'a': [1, 2]})", "step:load"),
        code("a = df['a'] * 2", "step:feat_a"),
        code("b = df['a'] + 1", "step:feat_b"),
        code("model = (a, b)", "step:train"),
    )
    assert [s.name for s in p.steps] == ["load", "feat_a", "feat_b", "train"]
    assert edges(p) == {
        "load": [],
        "feat_a": ["load"],
        "feat_b": ["load"],
        "train": ["feat_a", "feat_b"],
    }
    assert inputs(p)["train"] == {"a": "feat_a", "b": "feat_b"}
    assert p.step("load").outputs == ["df"]
    assert p.step("load").inputs == {}


def test_nearest_earlier_step_wins_when_a_later_step_rebinds():
    p = compile_cells(
        code("x = 1", "step:one"),
        code("x = x + 1", "step:two"),  # reads x (from one) then shadows it
        code("y = x * 10", "step:three"),
    )
    assert inputs(p) == {"one": {}, "two": {"x": "one"}, "three": {"x": "two"}}
    assert edges(p)["three"] == ["two"]
    assert p.step("one").outputs == ["x"] and p.step("two").outputs == ["x"]


def test_untagged_cells_continue_the_step_and_bind_in_order():
    p = compile_cells(
        code("a = 1", "step:first"),
        md(),
        code("b = a + 1"),  # same step: a is local
        code("c = b", "step:second"),
        code("d = a"),  # second step again: a from first
    )
    assert p.step("first").cells == [0, 2]
    assert inputs(p)["second"] == {"a": "first", "b": "first"}


def test_functions_carry_the_globals_their_body_reads():
    p = compile_cells(
        code("scale = 3\noffset = 1", "step:config"),
        code(
            "def transform(v):\n    return helper(v) * scale\n"
            "def helper(v):\n    return v + offset",
            "step:define",
        ),
        code("out = transform(2)", "step:use"),
    )
    use = p.step("use")
    assert use.inputs == {
        "transform": "define",
        "helper": "define",
        "scale": "config",
        "offset": "config",
    }
    assert sorted(use.upstream) == ["config", "define"]
    # the defining step needs them too, for calls it might make
    assert p.step("define").inputs == {"scale": "config", "offset": "config"}


def test_function_locals_params_and_nested_scopes_are_not_inputs():
    p = compile_cells(
        code("x = 1\ny = 2\nz = 3", "step:a"),
        code(
            "def f(x, *args, k=None, **kw):\n    y = x + 1\n    def g():\n        return y + z\n"
            "    return [y for y in args] + [g()]\nr = f(0)",
            "step:b",
        ),
    )
    assert p.step("b").inputs == {"z": "a"}


def test_class_bodies_and_methods():
    p = compile_cells(
        code("base_rate = 0.5\nthreshold = 2", "step:a"),
        code(
            "class Model:\n    rate = base_rate\n    def predict(self, v):\n"
            "        return v > threshold\n    doubled = rate * 2",
            "step:b",
        ),
        code("m = Model()", "step:c"),
    )
    assert p.step("b").inputs == {"base_rate": "a", "threshold": "a"}
    assert p.step("c").inputs == {"Model": "b", "threshold": "a"}


def test_lambdas_are_functions_too():
    p = compile_cells(
        code("k = 2", "step:a"),
        code("mul = lambda v: v * k", "step:b"),
        code("r = mul(3)", "step:c"),
    )
    assert p.step("c").inputs == {"mul": "b", "k": "a"}


def test_comprehension_scopes_do_not_leak_or_read_outer_targets():
    p = compile_cells(
        code("i = 100\ndata = [1, 2]\nlimit = 1", "step:a"),
        code(
            "sq = [i * i for i in data if i > limit]\n"
            "pairs = {k: v for k, v in zip(data, data)}\n"
            "nested = [[j for j in range(i)] for i in data]\n"
            "gen = sum(x for x in data)",
            "step:b",
        ),
        code("r = sq", "step:c"),
    )
    assert p.step("b").inputs == {"data": "a", "limit": "a"}  # not i, not k/v/j/x
    errors = errors_of(
        code("data = [1]", "step:a"),
        code("sq = [v for v in data]\nr = v", "step:b"),  # v does not leak
    )
    assert errors == [
        "<notebook>: cell 2 (step 'b'), line 2: 'v' is used but no earlier step defines it"
    ]


def test_walrus_binds_in_the_enclosing_scope():
    p = compile_cells(
        code("data = [1, 2, 3]", "step:a"),
        code(
            "if (n := len(data)) > 2:\n    pass\nbig = [y for v in data if (y := v * 2) > 2]",
            "step:b",
        ),
        code("r = n + y", "step:c"),
    )
    assert p.step("c").inputs == {"n": "b", "y": "b"}


def test_conditional_binding_counts_as_bound_and_also_takes_the_earlier_value():
    """Documented choice: a name bound only on some paths counts as bound by the step
    (later steps take it from there), and a read of it later in the same step also
    takes the earlier step's value as an input, so the name exists either way."""
    p = compile_cells(
        code("threshold = 0.5", "step:a"),
        code("if flag_from_b():\n    threshold = 0.9\nused = threshold", "step:b"),
        code("final = threshold", "step:c"),
        code("def flag_from_b():\n    return True", "setup"),
    )
    assert p.step("b").inputs == {"threshold": "a"}
    assert p.step("c").inputs == {"threshold": "b"}
    # with no earlier value, a conditional binding is not an error (it may run)
    p = compile_cells(code("import random\nif random.random() > 0.5:\n    z = 1\nprint(z)"))
    assert p.step("main").inputs == {}


def test_conditionally_rebound_outputs_pass_the_earlier_value_through():
    """A step that binds a name only on some paths and exports it takes the earlier value
    as an input too, so "the value at the end of the step" exists on every path; names
    nobody downstream reads (loop variables) add no edge."""
    p = compile_cells(
        code("flag = False", "parameters"),
        code("x = 1\nfor i in range(3):\n    pass", "step:one"),
        code("if flag:\n    x = 2\nfor i in range(2):\n    pass", "step:two"),
        code("y = x + 1", "step:three"),
        code("model = 5", "step:four"),
        code("if flag:\n    model = 6", "step:five", "model:model"),
        code("y", "metrics"),
    )
    assert p.step("two").inputs == {"x": "one"}
    assert p.step("two").upstream == ["one"]
    assert p.step("three").inputs == {"x": "two"}
    assert p.step("five").inputs == {"model": "four"}
    assert "i" not in p.step("one").outputs


def test_if_else_binding_on_both_branches_is_definite():
    p = compile_cells(
        code("v = 0", "step:a"),
        code("if True:\n    v = 1\nelse:\n    v = 2\nw = v", "step:b"),
    )
    assert p.step("b").inputs == {}


def test_try_except_and_loops():
    p = compile_cells(
        code("acc = 0\nitems = [1]", "step:a"),
        code(
            "try:\n    import tomllib as toml\nexcept ImportError:\n    toml = None\n"
            "for it in items:\n    acc = acc + it\nlast = it\nprint(toml)",
            "step:b",
        ),
    )
    # acc/it are loop-bound ("maybe"): acc also comes from a; toml is definite
    assert p.step("b").inputs == {"acc": "a", "items": "a"}


def test_loop_carried_names_are_not_errors():
    p = compile_cells(code("for i in range(3):\n    if i:\n        print(prev)\n    prev = i"))
    assert p.step("main").inputs == {}


def test_read_before_bind_in_the_same_step_is_an_input():
    p = compile_cells(
        code("x = 1", "step:a"),
        code("print(x)\nx = 2", "step:b"),
    )
    assert p.step("b").inputs == {"x": "a"}


def test_augmented_assignment_reads_the_name():
    p = compile_cells(code("total = 1", "step:a"), code("total += 1", "step:b"))
    assert p.step("b").inputs == {"total": "a"}


def test_attribute_and_subscript_targets_read_their_base():
    p = compile_cells(
        code("cfg = {}\nobj = type('O', (), {})()", "step:a"),
        code("cfg['k'] = 1\nobj.attr = 2", "step:b"),
    )
    assert p.step("b").inputs == {"cfg": "a", "obj": "a"}


def test_imports_with_and_for_targets_bind():
    p = compile_cells(
        code(
            "import os.path\nfrom math import sqrt as root\n"
            "with open(os.devnull) as fh:\n    text = fh.read()\nprint(root(4), text)"
        ),
    )
    assert p.step("main").inputs == {}


def test_global_statement_in_a_function_may_bind_the_name():
    p = compile_cells(
        code("def load():\n    global cache\n    cache = {}\nload()", "step:a"),
        code("print(cache)", "step:b"),
    )
    assert p.step("b").inputs == {"cache": "a"}


def test_del_in_an_earlier_step_is_reported():
    errors = errors_of(code("x = 1", "step:a"), code("del x", "step:b"), code("y = x", "step:c"))
    assert errors == ["<notebook>: cell 3 (step 'c'), line 1: 'x' is used but step 'b' deletes it"]


def test_builtins_are_not_inputs_unless_a_step_shadows_them():
    p = compile_cells(
        code("values = list(range(3))\nprint(len(values))", "step:a"),
        code("input = 'shadowed builtin'", "step:b"),
        code("r = input.upper()", "step:c"),
    )
    assert p.step("a").inputs == {}
    assert p.step("c").inputs == {"input": "b"}


def test_magics_are_transformed_and_analysable():
    p = compile_cells(
        code("%matplotlib inline\n!echo hi\nfiles = !ls\nraw = 1", "step:a"),
        code("%%time\nx = raw + 1", "step:b"),
        code("%time y = x * 2\n%%capture", "step:c"),
        code("%%capture captured\nz = y", "step:d"),
        code("%%bash\necho $HOME", "step:e"),
        code("r = (files, captured, z)", "step:f"),
    )
    assert p.step("b").inputs == {"raw": "a"}
    assert p.step("c").inputs == {"x": "b"}
    assert p.step("d").inputs == {"y": "c"}
    assert p.step("f").inputs == {"files": "a", "captured": "d", "z": "d"}
    assert p.step("e").inputs == {}
    assert p.step("b").sources == ["%%time\nx = raw + 1"]  # original text kept


def test_star_import_warns_and_silences_unresolved_names():
    p = compile_cells(code("from math import *\nr = sqrt(pi)", "step:a"))
    assert p.step("a").inputs == {}
    assert any("import *" in w for w in p.warnings)


def test_parameters_and_setup_names_are_not_inputs():
    p = compile_cells(
        code("import math\ndef area(r):\n    return math.pi * r * r * factor", "imports"),
        code("factor = 2\nradius = 1.0", "parameters"),
        code("a = area(radius)", "step:compute"),
    )
    s = p.step("compute")
    assert s.inputs == {} and s.upstream == []
    assert s.params_read == ["factor", "radius"]  # factor via the setup function's body


def test_params_read_includes_bodies_of_functions_taken_from_other_steps():
    p = compile_cells(
        code("lr = 0.1", "parameters"),
        code("def step_size(g):\n    return g * lr", "step:a"),
        code("s = step_size(3)", "step:b"),
    )
    assert p.step("b").params_read == ["lr"]
    assert p.step("b").inputs == {"step_size": "a"}


def test_undefined_names_are_all_reported_with_locations():
    errors = errors_of(
        code("a = 1", "step:one"),
        md(),
        code("x = 1\ny = X_train + a", "step:train"),
        code("z = undefined_thing\nw = other"),
    )
    assert errors == [
        "<notebook>: cell 3 (step 'train'), line 2: 'X_train' is used but no earlier step "
        "defines it",
        "<notebook>: cell 4 (step 'train'), line 1: 'undefined_thing' is used but no earlier "
        "step defines it",
        "<notebook>: cell 4 (step 'train'), line 2: 'other' is used but no earlier step defines it",
    ]


def test_a_later_step_is_not_a_source():
    errors = errors_of(code("y = x", "step:a"), code("x = 1", "step:b"))
    assert errors == [
        "<notebook>: cell 1 (step 'a'), line 1: 'x' is used but no earlier step defines it"
    ]


def test_at_most_twenty_errors_are_reported():
    errors = errors_of(code("\n".join(f"v{i} = u{i}" for i in range(30))))
    assert len(errors) == 21
    assert errors[-1] == "<notebook>: ... and 10 more errors"


def test_function_globals_never_cause_errors():
    p = compile_cells(
        code("def f():\n    return defined_later_by_caller", "step:a"),
        code("defined_later_by_caller = 1\nf()", "step:b"),
    )
    assert p.step("b").inputs == {"f": "a"}


def test_function_globals_bound_by_the_consumer_first_are_not_inputs():
    p = compile_cells(
        code("data = [1]", "step:a"),
        code("def total():\n    return sum(data)", "step:b"),
        code("data = [2, 3]\nt = total()", "step:c"),
    )
    assert p.step("c").inputs == {"total": "b"}
    assert p.step("b").inputs == {"data": "a"}


def test_capture_magic_with_options_binds_its_target():
    p = compile_cells(
        code("%%capture --no-stderr out\nprint(1)", "step:a"), code("text = out.stdout", "step:b")
    )
    assert p.step("b").inputs == {"out": "a"}


def test_match_statement_bindings():
    p = compile_cells(
        code("cmd = ('go', 1)", "step:a"),
        code(
            "match cmd:\n    case ('go', n):\n        speed = n\n    case _:\n        speed = 0\n"
            "v = speed",
            "step:b",
        ),
    )
    assert p.step("b").inputs == {"cmd": "a"}


def test_parameters_read_by_setup_cells_are_read_by_every_step():
    p = compile_cells(
        code("import random\nrandom.seed(SEED)", "imports"),
        code("SEED = 1\nN = 2", "parameters"),
        code("a = 1", "step:one"),
        code("b = a * N", "step:two"),
    )
    assert p.step("one").params_read == ["SEED"]
    assert p.step("two").params_read == ["N", "SEED"]
