"""Why the notebook and its pipeline computed different values (``verify``): the likely
cause of the first difference, and the fix, from the code around it.

``kind`` ``"input"``: the value a step reads was changed, in the notebook, between the end of
the step that produced it and the start of the reader, by code the compiler cannot see (a
helper function mutating its argument, a skipped cell, another name for the same object).
``kind`` ``"output"``: the step's inputs agree but its result does not: unseeded randomness,
the clock, or a function that reads a global which a later cell changes.
"""

from __future__ import annotations

import ast

from ..compiler.facts import CLOCK, RANDOM, SEEDED, UNSEEDED_ESTIMATOR, CellFacts, analyse_cell
from ..compiler.flow import _root_name, mutated_by_call
from ..compiler.notebook_io import read_cells
from ..compiler.pipeline import Pipeline


def _facts(pipeline: Pipeline) -> tuple[dict[int, CellFacts], dict[int, str]]:
    """Facts of every code cell and its role: a step name, ``setup``, ``parameters`` or
    ``outside`` (skip, metrics: never run by the pipeline)."""
    cells = read_cells(pipeline.nb, "<notebook>")
    facts = {c.index: analyse_cell(c.index, c.source) for c in cells if c.cell_type == "code"}
    role = {i: "outside" for i in facts}
    for i in pipeline.setup_cells:
        role[i] = "setup"
    if pipeline.parameters_cell is not None:
        role[pipeline.parameters_cell] = "parameters"
    for step in pipeline.steps:
        for i in step.cells:
            role[i] = step.name
    return facts, role


def _where(i: int, role: dict[int, str]) -> str:
    kind = role.get(i, "outside")
    if kind == "outside":
        return f"cell {i + 1} (not part of any step: skip or metrics)"
    if kind in ("setup", "parameters"):
        return f"cell {i + 1} ({kind})"
    return f"cell {i + 1} (step '{kind}')"


def _called(tree: ast.Module | None, name: str) -> str | None:
    """The function a cell passes ``name`` to (``helper`` in ``helper(lst)``)."""
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Call):
            args = [*node.args, *(k.value for k in node.keywords)]
            if any(isinstance(a, ast.Name) and a.id == name for a in args):
                func = node.func
                if isinstance(func, ast.Name):
                    return func.id
                if isinstance(func, ast.Attribute):
                    return ast.unparse(func)
    return None


def _aliases(tree: ast.Module | None, name: str) -> list[str]:
    """Other names bound to the same object in a cell (``other = name``)."""
    found = []
    for node in ast.walk(tree) if tree else []:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and node.value.id == name
        ):
            found += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return found


def _changed(tree: ast.Module | None) -> set[str]:
    """Names a cell changes in place in a way the compiler sees (bound in the cell or not)."""
    found: set[str] = set()
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Expr):
            name = mutated_by_call(node.value)
            if name:
                found.add(name)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute | ast.Subscript):
                    name = _root_name(target)
                    if name:
                        found.add(name)
    return found


def explain(
    pipeline: Pipeline, kind: str, variable: str, step: str, producer: str | None = None
) -> tuple[str, str]:
    """``(cause, fix)`` for the first difference found by ``verify``."""
    facts, role = _facts(pipeline)
    reader = pipeline.step(step)
    first = min(reader.cells)
    if kind == "input" and producer is not None:
        found = _changed_between(facts, role, variable, max(pipeline.step(producer).cells),
                                 first, producer, step)  # fmt: skip
        if found is not None:
            return found
        return (
            f"'{variable}' was changed between the end of step '{producer}' and the start of "
            f"step '{step}' by code the compiler cannot see, so step '{step}' gets the value "
            f"step '{producer}' produced",
            f"assign the changed value to '{variable}' (or change it with a method call or an "
            "item assignment) inside a step",
        )
    found = _global_read(facts, role, reader.cells, first)
    if found is not None:
        return found
    found = _randomness(facts, role, pipeline, reader.cells, step)
    if found is not None:
        return found
    for i in reader.cells:
        match = CLOCK.search(facts[i].source) if i in facts else None
        if match:
            return (
                f"step '{step}' reads the clock ({match.group(0)} in {_where(i, role)}): the "
                "notebook and the pipeline ran at different times",
                "make the time a parameter (or compute it in one step and pass it on), or "
                "compare with a --tolerance that allows for it",
            )
    return (
        f"step '{step}' computed '{variable}' differently from the same inputs: something in "
        "it is not deterministic (randomness, the clock, set or dict ordering, threads, files "
        "or services that changed)",
        "make the step deterministic (seed random generators, sort sets, read fixed files), "
        "or allow float noise with --tolerance",
    )


def _changed_between(
    facts: dict[int, CellFacts], role: dict[int, str], variable: str, after: int,
    before: int, producer: str, step: str,
) -> tuple[str, str] | None:  # fmt: skip
    between = [i for i in sorted(facts) if after < i < before]
    for i in between:  # a cell the pipeline never runs
        f = facts[i]
        if role[i] == "outside" and (
            variable in f.binds or variable in f.mutates or variable in f.passes
        ):
            return (
                f"{_where(i, role)} changes '{variable}', but the pipeline never runs that "
                f"cell: in the notebook step '{step}' sees the change, in the pipeline it "
                f"does not",
                f"move that change into a step (remove its skip tag), or make it in step '{step}'",
            )
    for i in between:  # a helper function mutating its argument
        function = _called(facts[i].tree, variable)
        if function is not None:
            return (
                f"{_where(i, role)} passes '{variable}' to {function}(), which changes it in "
                "place: the compiler cannot see a change made inside a function, so in the "
                f"pipeline step '{step}' gets '{variable}' as step '{producer}' left it",
                f"return the new value and assign it ({variable} = {function}({variable}, "
                f"...)), or make the change visible in that step ({variable}.append(...), "
                f"{variable}[...] = ...)",
            )
    for i in between:  # another name for the same object
        for alias in _aliases(facts[i].tree, variable):
            changed = [j for j in between if j >= i and alias in _changed(facts[j].tree)]
            if changed:
                return (
                    f"{_where(changed[0], role)} changes '{alias}', another name for the "
                    f"object '{variable}' (bound in {_where(i, role)}): the compiler cannot "
                    f"see that this changes '{variable}'",
                    f"copy it ({alias} = {variable}.copy()) or change '{variable}' under its "
                    "own name",
                )
    return None


def _global_read(
    facts: dict[int, CellFacts], role: dict[int, str], cells: list[int], first: int
) -> tuple[str, str] | None:
    """A function or class the step uses reads a global that a cell after its definition
    (and before the step) rebinds: the notebook's call sees the new value, the pipeline's
    the value carried with the function from its own step."""
    reads = set().union(*(facts[i].reads for i in cells if i in facts))
    for d in sorted((i for i in facts if i < first), reverse=True):
        for name, info in facts[d].funcs.items():
            for g in sorted(info.globals_read):
                later = [j for j in sorted(facts) if d < j < first and g in facts[j].binds]
                used = (  # called by the step, or an object made with it that it reads
                    name in reads
                    or bool(reads & (facts[d].binds - {g}))
                    or any(name in facts[j].reads for j in facts if d < j < first)
                )
                if later and used and role[d] not in ("setup",):
                    return (
                        f"step '{role[cells[0]]}' uses {name}, defined in {_where(d, role)}, "
                        f"which reads the global '{g}'; {_where(later[-1], role)} changes "
                        f"'{g}' afterwards: in the notebook {name} sees the new value, in the "
                        f"pipeline it carries the value '{g}' had when its step ended",
                        f"pass '{g}' to {name} as an argument, or define {name} in a setup "
                        "cell (tag 'setup') so that it reads the step's own '{g}'".replace(
                            "{g}", g
                        ),
                    )
    return None


def _randomness(
    facts: dict[int, CellFacts], role: dict[int, str], pipeline: Pipeline,
    cells: list[int], step: str,
) -> tuple[str, str] | None:  # fmt: skip
    sources = {i: facts[i].source for i in cells if i in facts}
    # functions the step calls, defined in other cells, may draw random numbers too
    reads = set().union(*(facts[i].reads for i in cells if i in facts))
    for i, f in facts.items():
        if i not in sources and set(f.funcs) & reads:
            sources[i] = f.source
    seeded_here = any(SEEDED.search(s) for i, s in sources.items() if i in cells)
    for i, source in sources.items():
        match = RANDOM.search(source) or UNSEEDED_ESTIMATOR.search(source)
        if not match or SEEDED.search(source):
            continue
        if match.re is UNSEEDED_ESTIMATOR and "random_state" in source:
            continue
        if seeded_here:
            continue
        elsewhere = [j for j in facts if j < min(cells) and SEEDED.search(facts[j].source)]
        if elsewhere:
            return (
                f"step '{step}' draws random numbers ({match.group(0)} in {_where(i, role)}) "
                f"from a generator seeded once in {_where(elsewhere[0], role)}: the notebook "
                "continues one sequence across steps, each pipeline step starts its own",
                f"seed in step '{step}' itself (e.g. random.seed(0), "
                "np.random.default_rng(0), random_state=0), or make the seed a parameter",
            )
        return (
            f"unseeded randomness: step '{step}' draws random numbers ({match.group(0)} in "
            f"{_where(i, role)}), so the notebook and the pipeline draw different ones",
            "seed it (random.seed(0), rng = np.random.default_rng(0), random_state=0), or "
            "make the seed a parameter",
        )
    return None
