"""The parameters cell: literal defaults, their types, and what is rejected."""

from __future__ import annotations

import pytest
from compiler_fixtures import code, compile_cells

from jupyter_mlops.compiler import CompileError


def test_literal_types_and_defaults():
    p = compile_cells(
        code(
            "# comment\nn = 3\nrate: float = 0.5\nname = 'iris'\nflag = True\nnothing = None\n"
            "layers = (64, 32)\nopts = {'a': [1, -2.5]}\nneg = -1\n\n",
            "parameters",
        ),
        code("x = 1"),
    )
    assert p.parameters == {
        "n": {"default": 3, "type": "int"},
        "rate": {"default": 0.5, "type": "float"},
        "name": {"default": "iris", "type": "str"},
        "flag": {"default": True, "type": "bool"},
        "nothing": {"default": None, "type": "any"},
        "layers": {"default": [64, 32], "type": "list"},
        "opts": {"default": {"a": [1, -2.5]}, "type": "dict"},
        "neg": {"default": -1, "type": "int"},
    }


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        (
            "import os",
            1,
            "only 'name = <literal>' or 'name: T = <literal>' lines are allowed in "
            "parameters, not 'import os'",
        ),
        ("a = 1\nb = a + 1", 2, "parameter 'b' must be a literal"),
        ("a, b = 1, 2", 1, "only 'name = <literal>'"),
        ("x = {1, 2}", 1, "parameter 'x' must be a literal"),
        ("x: int", 1, "only 'name = <literal>'"),
        ("print('hi')", 1, "only 'name = <literal>'"),
        ("x = f(1)", 1, "parameter 'x' must be a literal"),
    ],
)
def test_non_literal_statements_are_errors_naming_the_line(source, line, message):
    with pytest.raises(CompileError) as info:
        compile_cells(code(source, "parameters"), code("y = 1"))
    assert len(info.value.messages) == 1
    assert info.value.messages[0].startswith(
        f"<notebook>: cell 1 (parameters), line {line}: {message}"
    )


def test_at_most_one_parameters_cell():
    with pytest.raises(CompileError) as info:
        compile_cells(
            code("a = 1", "parameters"), code("b = 1", "pipeline-parameters"), code("c = a")
        )
    assert info.value.messages == [
        "<notebook>: cell 2: a second parameters cell (the first is cell 1); at most one is allowed"
    ]


def test_a_step_rebinding_a_parameter_warns():
    p = compile_cells(code("epochs = 1", "parameters"), code("epochs = epochs * 2"))
    assert p.step("main").params_read == ["epochs"]
    assert any("rebinds parameter 'epochs'" in w for w in p.warnings)
