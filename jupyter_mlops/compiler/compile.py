"""``compile_notebook``: tags → cell roles → steps → data flow → :class:`Pipeline`."""

from __future__ import annotations

import ast
import gc
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .dataflow import BUILTINS, DataFlow
from .diagnostics import CompileError, Diagnostics
from .flow import Flow
from .notebook_io import (
    Cell,
    kernel_language,
    kernel_name,
    load_notebook,
    notebook_name,
    read_cells,
)
from .parameters import parse_parameters
from .pipeline import Pipeline, Step, topological_order
from .source import TooDeeplyNested, parse_cell
from .tags import PREFIXES, ROLE_TAGS, CellTags, parse_tags

_PARAMETER = re.compile(r"^parameter '(\w+)'")

ROLE_LABELS = {
    "parameters": "parameters",
    "setup": "setup",
    "metrics": "pipeline-metrics",
    "skip": "skip",
}


@dataclass
class _Draft:
    name: str
    cells: list[Cell] = field(default_factory=list)
    prev: list[tuple[str, int]] = field(default_factory=list)
    cache: bool = True
    cache_ttl: float | None = None
    reads: list[str] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=dict)


@dataclass
class _Layout:
    steps: dict[str, _Draft] = field(default_factory=dict)
    cell_step: dict[int, str] = field(default_factory=dict)
    parameters: Cell | None = None
    setup: list[Cell] = field(default_factory=list)
    metrics: list[Cell] = field(default_factory=list)
    model: tuple[Cell, str] | None = None
    example: tuple[Cell, str] | None = None


def _is_blank(source: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in source.splitlines())


def _layout(cells: list[Cell], diag: Diagnostics) -> _Layout:
    """Assign every code cell its role and step."""
    lay = _Layout()
    current: str | None = None
    for cell in cells:
        if cell.cell_type != "code":
            ours = [t for t in cell.tags if t in ROLE_TAGS or t.partition(":")[0] in PREFIXES]
            if ours:
                diag.warn(
                    f"tag '{ours[0]}' on a {cell.cell_type} cell is ignored: tags apply to "
                    "code cells only (put it on the code cell it is meant for)",
                    cell.index,
                )
            continue
        tags: CellTags = parse_tags(cell.tags)
        for message in tags.errors:
            diag.error(message, cell.index)
        for message in tags.warnings:
            diag.warn(message, cell.index)
        role = tags.role
        if tags.secrets and role != "parameters":
            diag.error(
                f"tag 'secret:{tags.secrets[0]}' belongs on the parameters cell",
                cell.index,
            )
        if role in ROLE_LABELS:
            for tag in tags.modifiers:
                diag.error(
                    f"tag '{tag}' only applies to a step's cells, not to a "
                    f"'{ROLE_LABELS[role]}' cell",
                    cell.index,
                )
            if role == "parameters":
                if lay.parameters is not None:
                    diag.error(
                        f"a second parameters cell (the first is cell "
                        f"{lay.parameters.index + 1}); at most one is allowed",
                        cell.index,
                    )
                else:
                    lay.parameters = cell
            elif role == "setup":
                lay.setup.append(cell)
            elif role == "metrics":
                lay.metrics.append(cell)
            continue
        if role == "step":
            name = tags.step or ""
            if name != current and name in lay.steps:
                first = lay.steps[name].cells[0].index
                last = lay.steps[name].cells[-1].index
                diag.error(
                    f"step '{name}' is also on cell {last + 1} but the cells between "
                    f"belong to other steps (cells {first + 1} and {cell.index + 1} "
                    "are not adjacent; a step's cells must be consecutive)",
                    cell.index,
                )
                continue
            current = name
        elif current is None:
            if _is_blank(cell.source) and not tags.modifiers:
                continue
            current = "main"
        draft = lay.steps.setdefault(current, _Draft(current))
        draft.cells.append(cell)
        lay.cell_step[cell.index] = current
        draft.prev.extend((p, cell.index) for p in tags.prev)
        draft.cache = draft.cache and not tags.cache_disabled
        if tags.cache_ttl is not None:
            draft.cache_ttl = min(draft.cache_ttl or tags.cache_ttl, tags.cache_ttl)
        draft.reads += [r for r in tags.reads if r not in draft.reads]
        draft.resources.update(tags.resources)
        for kind, value in (("model", tags.model), ("example", tags.example)):
            if value is None:
                continue
            if getattr(lay, kind) is not None:
                other = getattr(lay, kind)[0].index + 1
                diag.error(
                    f"a second '{kind}:' tag (the first is on cell {other}); at most one "
                    "is allowed per notebook",
                    cell.index,
                )
            else:
                setattr(lay, kind, (cell, value))
    return lay


def _parse(cell: Cell, diag: Diagnostics, label: str) -> ast.Module | None:
    try:
        return parse_cell(cell.source)
    except SyntaxError as exc:
        prefix = "" if isinstance(exc, TooDeeplyNested) else "syntax error: "
        diag.error(f"{prefix}{exc.msg}", cell.index, label, exc.lineno)
        return None


def _metric_names(cells: list[Cell], diag: Diagnostics) -> list[tuple[str, Cell, int]]:
    found: list[tuple[str, Cell, int]] = []
    for cell in cells:
        tree = _parse(cell, diag, "pipeline-metrics")
        for stmt in tree.body if tree else []:
            value = stmt.value if isinstance(stmt, ast.Expr) else None
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "print"
                and len(value.args) == 1
                and not value.keywords
            ):
                value = value.args[0]
            if isinstance(value, ast.Name):
                found.append((value.id, cell, stmt.lineno))
            else:
                diag.error(
                    "only 'print(x)' or 'x' lines are allowed in a metrics cell: compute "
                    "it in a step, list it here",
                    cell.index,
                    "pipeline-metrics",
                    stmt.lineno,
                )
    return found


_GC_LOCK = threading.Lock()
_GC_HOLDERS = 0
_GC_WAS_ON = True


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while compiling: the syntax trees of a long notebook are
    many young objects that would trigger repeated full collections (≈ half of the time of a
    3,000-cell compile); they are collected once, afterwards. Threads compiling at once
    share one pause."""
    global _GC_HOLDERS, _GC_WAS_ON
    with _GC_LOCK:
        if _GC_HOLDERS == 0:
            _GC_WAS_ON = gc.isenabled()
            gc.disable()
        _GC_HOLDERS += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_HOLDERS -= 1
            if _GC_HOLDERS == 0 and _GC_WAS_ON:
                gc.enable()


def compile_notebook(
    source: str | os.PathLike | Mapping[str, Any], path: str | None = None
) -> Pipeline:
    """Compile a tagged notebook (path, dict or ``NotebookNode``) into a :class:`Pipeline`.

    ``path``: where a notebook given as a dict lives (for messages and ``Pipeline.notebook``).
    Raises :class:`~jupyter_mlops.compiler.diagnostics.CompileError` (an
    ``InvalidInput``) listing up to 20 located problems.
    """
    with _gc_paused():
        return _compile(source, path)


def _compile(source: str | os.PathLike | Mapping[str, Any], path: str | None) -> Pipeline:
    nb, loaded_from = load_notebook(source)
    path = loaded_from or path
    diag = Diagnostics(notebook_name(path))
    cells = read_cells(nb, diag.name)
    language = kernel_language(nb)
    if language != "python":
        raise CompileError(
            f"{diag.name}: this is a {language} notebook (kernel {kernel_name(nb)!r}); "
            "jupyter-mlops compiles Python notebooks only"
        )
    lay = _layout(cells, diag)

    # parameters
    parameters: dict[str, dict[str, Any]] = {}
    param_names: set[str] = set()
    if lay.parameters is not None:
        tree = _parse(lay.parameters, diag, "parameters")
        if tree is not None:
            params, errors = parse_parameters(tree)
            for line, message in errors:
                named = _PARAMETER.search(message)
                variable = named.group(1) if named else None
                diag.error(message, lay.parameters.index, "parameters", line, variable)
            parameters = {p.name: {"default": p.default, "type": p.type} for p in params}
            cell_tags = parse_tags(lay.parameters.tags)
            for name in cell_tags.secrets:
                if name not in parameters:
                    diag.error(
                        f"secret:{name}: '{name}' is not a parameter of this cell",
                        lay.parameters.index,
                        "parameters",
                        variable=name,
                    )
                elif parameters[name]["type"] != "str":
                    diag.error(
                        f"secret:{name}: a secret parameter must be a string "
                        f'(e.g. {name} = ""), not {parameters[name]["type"]}',
                        lay.parameters.index,
                        "parameters",
                        variable=name,
                    )
                else:
                    parameters[name]["secret"] = True
            # names of rejected parameters: known, so that steps reading them add no errors
            param_names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}

    # setup cells: their reads are checked once the steps' names are known
    setup_reads: list[tuple[str, int, int | None]] = []
    setup = Flow(lambda flow, name, line, soft: soft or setup_reads.append((name, flow.cell, line)))
    for cell in lay.setup:
        tree = _parse(cell, diag, "setup")
        if tree is not None:
            setup.run(tree.body, cell.index)

    # steps, in notebook order
    flow = DataFlow(diag, param_names | set(parameters), setup)
    for draft in lay.steps.values():
        label = f"step '{draft.name}'"
        flow.add_step(draft.name, [(c.index, _parse(c, diag, label)) for c in draft.cells])
    index_of = {s.name: i for i, s in enumerate(flow.steps)}
    for state in flow.steps:
        assert state.flow is not None
        for cell, line in state.flow.star_imports:
            diag.warn(
                "'from ... import *': the names it defines are not checked",
                cell,
                f"step '{state.name}'",
                line,
            )
        for name in sorted(state.flow.maybe & set(parameters)):
            diag.warn(
                f"step '{state.name}' rebinds parameter '{name}'; other steps still see "
                "the parameter's value",
                label=f"step '{state.name}'",
                variable=name,
            )

    setup_params = {name for name, _, _ in setup_reads if name in parameters}
    for name, cell, line in setup_reads:
        binders = [s.name for s in flow.steps if s.flow and name in s.flow.maybe]
        if binders:
            diag.error(
                f"'{name}' is defined by step '{binders[0]}'; setup cells may not use "
                "names that steps define",
                cell,
                "setup",
                line,
                name,
            )
        elif not (
            name in BUILTINS or name in parameters or name in setup.maybe or setup.star_imports
        ):
            diag.error(f"'{name}' is used but no setup cell defines it", cell, "setup", line, name)

    model = example = None
    if lay.model is not None:
        cell, var = lay.model
        step_name = lay.cell_step[cell.index]
        state = flow.steps[index_of[step_name]]
        if state.flow and (var in state.flow.maybe or state.broken):
            state.outputs.add(var)
            flow.pass_through(index_of[step_name], var)
            model = {"step": step_name, "variable": var}
        else:
            diag.error(
                f"model:{var}: '{var}' is not assigned in step '{step_name}'",
                cell.index,
                f"step '{step_name}'",
                variable=var,
            )
    if lay.example is not None:
        cell, text = lay.example
        step_name = lay.cell_step[cell.index]
        index = index_of[step_name]
        try:
            expr = ast.parse(text.strip(), mode="eval").body
        except (SyntaxError, RecursionError, MemoryError):
            diag.error(
                f"malformed tag 'example:{text}': not a Python expression",
                cell.index,
                f"step '{step_name}'",
            )
        else:
            flow.read_at_end(index, expr, cell.index, f" (read by tag 'example:{text}')")
            state = flow.steps[index]
            assert state.flow is not None
            names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
            state.outputs |= names & state.flow.maybe
            for name in sorted(names & state.flow.maybe):
                flow.pass_through(index, name)
            example = {"step": step_name, "variable": text}

    metrics: list[str] = []
    metric_steps: dict[str, str] = {}
    for name, cell, line in _metric_names(lay.metrics, diag):
        if name in metric_steps:
            continue
        binders = [s for s in flow.steps if s.flow and name in s.flow.maybe]
        if not binders:
            diag.error(
                f"metric '{name}' is not defined by any step: compute it in a step, list it here",
                cell.index,
                "pipeline-metrics",
                line,
                name,
            )
            continue
        binders[-1].outputs.add(name)
        flow.pass_through(index_of[binders[-1].name], name)
        metrics.append(name)
        metric_steps[name] = binders[-1].name

    # edges and order
    upstream: dict[str, list[str]] = {}
    for draft, state in zip(lay.steps.values(), flow.steps, strict=True):
        ups = {flow.steps[j].name for j in state.inputs.values()}
        for prev, cell_index in draft.prev:
            if prev not in lay.steps:
                diag.error(
                    f"prev:{prev} names no step (steps: {', '.join(lay.steps)})",
                    cell_index,
                    f"step '{draft.name}'",
                )
            else:
                ups.add(prev)
        upstream[draft.name] = sorted(ups, key=index_of.__getitem__)
    if not lay.steps:
        diag.error(
            "no code to run: every code cell is empty or tagged parameters, setup, skip or metrics"
        )
    order = topological_order(list(lay.steps), upstream)
    if order and isinstance(order[0], list):
        diag.error("steps form a cycle: " + " -> ".join(order[0]) + " (check the prev: tags)")
    for found in (*diag.error_items, *diag.warning_items):  # a step's cell: name the step
        if found["step"] is None and found["cell"] in lay.cell_step:
            found["step"] = lay.cell_step[found["cell"]]
    diag.raise_if_errors()

    steps = []
    for name in order:
        assert isinstance(name, str)
        draft, state = lay.steps[name], flow.steps[index_of[name]]
        steps.append(
            Step(
                name=name,
                cells=[c.index for c in draft.cells],
                upstream=upstream[name],
                inputs={v: flow.steps[j].name for v, j in sorted(state.inputs.items())},
                outputs=sorted(state.outputs),
                cache=draft.cache,
                cache_ttl=draft.cache_ttl,
                reads=list(draft.reads),
                resources=dict(draft.resources),
                params_read=sorted(state.params | setup_params),  # setup runs in every step
                sources=[c.source for c in draft.cells],
                prev=[p for p, _ in draft.prev],
                inplace=sorted(state.flow.inplace & state.outputs) if state.flow else [],
                defines=sorted(n for n in state.flow.maybe if not n.startswith("_"))
                if state.flow
                else [],
            )
        )
    return Pipeline(
        notebook=path,
        kernel=kernel_name(nb),
        nb=nb,
        steps=steps,
        parameters=parameters,
        parameters_cell=lay.parameters.index if lay.parameters else None,
        setup_cells=[c.index for c in lay.setup],
        setup_sources=[c.source for c in lay.setup],
        metrics=metrics,
        metric_steps=metric_steps,
        model=model,
        example=example,
        warnings=list(diag.warnings),
        warning_items=list(diag.warning_items),
    )
