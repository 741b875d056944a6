"""Cross-step data flow: resolve each step's free reads to the step that binds them.

A read of a name that a step has not definitely bound at that point resolves, in
order, to: a pipeline parameter; a setup-cell name; the nearest earlier step that
may bind it (that step becomes upstream and the name an *input*); a builtin.
Otherwise it is an error, unless the step itself may bind the name (conditional
binding), the read is *soft* (a function body's global), or a ``from m import *``
or a cell with a syntax error could have bound it. Taking a function or class
from another step also takes the globals its body reads (recursively).

A step that changes a received value in place in a way the compiler sees
(``clf.fit(X, y)``, ``df["c"] = ...``, see :mod:`.flow`) produces that name, as in the
notebook: later readers take the changed value from it. Modules, parameters and setup
names are not values that flow between steps (a change to a parameter or a setup name
stays in the step, with a warning).
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from .diagnostics import Diagnostics
from .flow import Flow
from .scopes import FuncInfo

IPYTHON_NAMES = frozenset(
    {
        "get_ipython",
        "display",
        "In",
        "Out",
        "exit",
        "quit",
        "_",
        "__",
        "___",
        "_i",
        "_ii",
        "_iii",
        "_ih",
        "_oh",
        "_dh",
        "__name__",
        "__builtins__",
        "__doc__",
    }
)
BUILTINS = frozenset(dir(builtins)) | IPYTHON_NAMES


@dataclass
class StepState:
    """Analysis results for one step (index = notebook order)."""

    name: str
    flow: Flow | None = None
    inputs: dict[str, int] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)
    broken: bool = False  # a cell did not parse: it may bind anything
    taken_funcs: set[tuple[str, int]] = field(default_factory=set)


class DataFlow:
    """Analyses steps in notebook order, resolving reads as they happen."""

    def __init__(self, diag: Diagnostics, params: set[str], setup: Flow) -> None:
        self.diag = diag
        self.params = params
        self.setup = setup
        self.steps: list[StepState] = []
        self.current = -1
        self.note = ""  # appended to undefined-name errors (e.g. the example tag)

    def add_step(self, name: str, cells: list[tuple[int, ast.Module | None]]) -> StepState:
        """Analyse a step's parsed cells (``None`` for a cell that did not parse)."""
        state = StepState(name)
        self.steps.append(state)
        self.current = len(self.steps) - 1
        state.flow = flow = Flow(self._on_read, on_mutate=self._on_mutate)
        for cell, tree in cells:
            if tree is None:
                state.broken = True
                continue
            flow.run(tree.body, cell)
        return state

    def read_at_end(self, index: int, expr: ast.expr, cell: int, note: str) -> None:
        """Reads of an expression evaluated at the end of step *index* (``example:``)."""
        self.current = index
        self.note = note
        flow = self.steps[index].flow
        assert flow is not None
        flow.cell = cell
        flow.expr(expr)
        self.note = ""

    def pass_through(self, index: int, name: str) -> None:
        """Step *index* exports *name* but binds it only on some paths: when it does not,
        the value it had before the step must flow on, so the step takes it as an input
        too (from the step, parameter or setup cell that binds it earlier)."""
        state = self.steps[index]
        flow = state.flow
        if flow is None or name in flow.definite or name in state.inputs or state.broken:
            return
        saved, self.current = self.current, index
        try:
            self._on_read(flow, name, None, True)
        finally:
            self.current = saved

    # -- resolution ----------------------------------------------------------------
    def _may_bind_anything(self, index: int) -> bool:
        return any(
            s.broken or (s.flow is not None and s.flow.star_imports)
            for s in self.steps[: index + 1]
        )

    def _on_read(self, flow: Flow, name: str, line: int | None, soft: bool) -> None:
        index = self.current
        state = self.steps[index]
        if name in self.params:
            state.params.add(name)
            return
        if name in self.setup.maybe:
            self._use_function(flow, state, name, -1, self.setup.funcs.get(name), line)
            return
        for j in range(index - 1, -1, -1):
            earlier = self.steps[j]
            assert earlier.flow is not None
            if name in earlier.flow.maybe:
                state.inputs.setdefault(name, j)
                earlier.outputs.add(name)
                self._use_function(flow, state, name, j, earlier.flow.funcs.get(name), line)
                self.pass_through(j, name)
                return
            if name in earlier.flow.killed:
                if not soft:
                    self._error(
                        flow, line, f"'{name}' is used but step '{earlier.name}' deletes it", name
                    )
                return
        if name in BUILTINS or soft or name in flow.maybe or self._may_bind_anything(index):
            return
        self._error(flow, line, f"'{name}' is used but no earlier step defines it{self.note}", name)

    def _on_mutate(self, flow: Flow, name: str, line: int | None) -> bool:
        """Whether an in-place write of *name* makes the current step its producer."""
        index = self.current
        label = f"step '{self.steps[index].name}'"
        if name in self.params or (name in self.setup.maybe and name not in self.setup.imports):
            kind = "parameter" if name in self.params else "setup name"
            self.diag.warn(
                f"changes {kind} '{name}' in place; other steps still see the {kind}'s own "
                "value (copy it into a new name to pass the change on)",
                flow.cell,
                label,
                line,
                name,
            )
            return False
        if name in self.setup.maybe:
            return False
        for j in range(index - 1, -1, -1):
            earlier = self.steps[j].flow
            assert earlier is not None
            if name in earlier.maybe:
                return name not in earlier.imports
            if name in earlier.killed:
                return False
        return False

    def _use_function(
        self,
        flow: Flow,
        state: StepState,
        name: str,
        source: int,
        info: FuncInfo | None,
        line: int | None,
    ) -> None:
        if info is None or (name, source) in state.taken_funcs:
            return
        state.taken_funcs.add((name, source))
        for global_name in sorted(info.globals_read):
            if global_name not in flow.definite:
                self._on_read(flow, global_name, line, True)

    def _error(self, flow: Flow, line: int | None, message: str, variable: str) -> None:
        if self.note:  # a tag's expression: its line numbers are not the cell's
            line = None
        label = f"step '{self.steps[self.current].name}'"
        self.diag.error(message, flow.cell, label, line, variable)
