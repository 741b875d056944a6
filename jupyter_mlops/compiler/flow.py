"""Flow-sensitive name analysis of module-level code (a step's cells, in order).

:class:`Flow` walks statements in execution order, tracking which names are
*definitely* bound and which are *maybe* bound (only on some paths: inside ``if``,
loops, ``try``, ``match``, short-circuit walruses, comprehension walruses). Every
read of a name that is not definitely bound at that point is reported to
``on_read(flow, name, line, soft)``; ``soft`` reads come from function bodies
(they run later, when called) and never cause "undefined name" errors.

An *in-place write* the compiler can see (``x[...] = v``, ``x.attr = v``, ``del x[k]``,
``x[k] += v``, and a statement-level method call whose result is discarded,
``clf.fit(X, y)`` / ``lst.append(3)``) is reported to ``on_mutate(flow, name)``; when it
answers True the name counts as bound here (the step produces the changed value), and it
is listed in :attr:`Flow.inplace`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from .scopes import FuncInfo, bound_names, class_info, function_info, signature_expressions

OnRead = Callable[["Flow", str, int | None, bool], None]
OnMutate = Callable[["Flow", str, int | None], bool]
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)

#: Methods known not to change their object: a statement ``x.head()`` is not an in-place
#: write of ``x``. Any other method called on a name in a statement whose result is
#: discarded counts as one (as does any call with ``inplace=True``).
NON_MUTATING_METHODS = frozenset(
    {
        # display, inspection, plotting
        *("head", "tail", "describe", "info", "show", "display", "print", "plot", "hist"),
        *("boxplot", "scatter", "summary", "memory_usage", "explain", "pprint", "render"),
        # copies and conversions
        *("copy", "astype", "to_numpy", "tolist", "to_list", "to_dict", "to_frame", "to_string"),
        *("to_html", "to_markdown", "to_latex", "to_records", "to_json", "to_csv", "to_parquet"),
        *("to_excel", "to_pickle", "to_feather", "to_sql", "to_clipboard", "savefig", "save"),
        # queries that return a new object
        *("get", "keys", "values", "items", "index", "count", "sum", "mean", "median", "std"),
        *("var", "min", "max", "any", "all", "isna", "isnull", "notna", "notnull", "unique"),
        *("nunique", "value_counts", "corr", "cov", "groupby", "equals", "nlargest"),
        *("nsmallest", "select_dtypes", "sample", "format", "join", "split", "startswith"),
        *("endswith", "round", "abs"),
        # estimators: using a fitted model does not change it
        *("predict", "predict_proba", "predict_log_proba", "decision_function", "score"),
        *("transform", "get_params", "get_feature_names_out"),
    }
)


def _root_name(node: ast.expr) -> str | None:
    """``x`` for ``x``, ``x.a``, ``x[i]``, ``x.a[i].b`` (no calls on the way)."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def mutated_by_call(node: ast.expr) -> str | None:
    """The name a statement-level call changes in place, if any.

    In a chain the first method called on the name decides: ``clf.fit(X, y).score(X, y)``
    changes ``clf``; ``df.groupby("a").mean()`` and ``df.head().plot()`` change nothing.
    ``inplace=True`` always counts, an explicit ``inplace=False`` never does.
    """
    if isinstance(node, ast.Await):
        node = node.value
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        receiver = node.func.value
        if isinstance(receiver, ast.Call):
            node = receiver
            continue
        flag = next((k.value for k in node.keywords if k.arg == "inplace"), None)
        if isinstance(flag, ast.Constant) and not flag.value:
            return None  # an explicit ``inplace=False``
        if flag is None and node.func.attr in NON_MUTATING_METHODS:
            return None
        return _root_name(receiver)
    return None


class Flow:
    """Binding state of one module-level (or class-body) namespace."""

    def __init__(
        self, on_read: OnRead, parent: Flow | None = None, on_mutate: OnMutate | None = None
    ) -> None:
        self.on_read = on_read
        self.on_mutate = on_mutate
        self.parent = parent
        self.definite: set[str] = set()
        self.maybe: set[str] = set()
        self.funcs: dict[str, FuncInfo | None] = {}
        self.killed: set[str] = set()
        self.inplace: set[str] = set()  # received names this step changes in place
        self.imports: set[str] = set()  # names whose binding here is an import (a module)
        self.star_imports: list[tuple[int, int]] = []  # (cell, line)
        self.cell = -1
        self._depth = 0

    # -- namespace operations -------------------------------------------------
    def root(self) -> Flow:
        """The module-level flow (class bodies forward to it)."""
        return self if self.parent is None else self.parent.root()

    def read(self, name: str, line: int | None, soft: bool = False) -> None:
        """A read of *name*: reported unless definitely bound here."""
        if name in self.definite:
            return
        if self.parent is not None:
            self.parent.read(name, line, soft)
        else:
            self.on_read(self, name, line, soft)

    def bind(self, name: str, maybe: bool = False, info: FuncInfo | None = None) -> None:
        """Bind *name* (``maybe``: only on some paths)."""
        self.maybe.add(name)
        self.killed.discard(name)
        self.inplace.discard(name)
        self.imports.discard(name)
        if not maybe:
            self.definite.add(name)
        if info is not None or not maybe:
            self.funcs[name] = info

    def mutate(self, name: str | None, line: int | None) -> None:
        """An in-place write of *name* (already read): a received value becomes an output."""
        if name is None or self.parent is not None or name in self.definite:
            return  # class bodies aside; a value bound earlier in this step is local anyway
        if self.on_mutate is not None and self.on_mutate(self, name, line):
            self.maybe.add(name)
            self.definite.add(name)
            self.killed.discard(name)
            self.inplace.add(name)

    def unbind(self, name: str) -> None:
        """``del name``: unconditional at top level, "maybe unbound" in a branch."""
        self.definite.discard(name)
        if not self._depth:
            self.maybe.discard(name)
            self.funcs.pop(name, None)
            self.killed.add(name)

    def use_function(self, info: FuncInfo, line: int | None) -> None:
        """A function/class body's globals are soft reads (methods skip class scope)."""
        root = self.root()
        for name in sorted(info.globals_read):
            root.read(name, line, True)
        root.maybe |= info.globals_written

    # -- statements -------------------------------------------------------------
    def run(self, statements: list[ast.stmt], cell: int) -> None:
        """Analyse a cell's statements."""
        self.cell = cell
        self.block(statements)

    def block(self, statements: list[ast.stmt]) -> None:
        for stmt in statements:
            self.stmt(stmt)

    def _branches(self, bodies: list[list[ast.stmt]], exhaustive: bool = True) -> None:
        start = set(self.definite)
        ends = []
        self._depth += 1
        for body in bodies:
            self.definite = set(start)
            self.block(body)
            ends.append(self.definite)
        self._depth -= 1
        result = set.intersection(*ends) if ends else set(start)
        self.definite = result if exhaustive else result & start

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        self.maybe |= bound_names(node.body)  # loop-carried names are "maybe bound"
        start = set(self.definite)
        self._depth += 1
        if isinstance(node, ast.While):
            self.expr(node.test)
        else:
            self.target(node.target)
        self.block(node.body)
        after_body = self.definite
        self.definite = set(start)
        self.block(node.orelse)
        self._depth -= 1
        self.definite = start & after_body & self.definite

    def stmt(self, node: ast.stmt) -> None:
        """Analyse one statement in execution order."""
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for expr in signature_expressions(node):
                self.expr(expr)
            info = function_info(node)
            self.use_function(info, node.lineno)
            self.bind(node.name, info=info)
        elif isinstance(node, ast.ClassDef):
            for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                self.expr(expr)
            body = Flow(self.on_read, parent=self)
            body.cell = self.cell
            body.block(node.body)
            self.bind(node.name, info=class_info(node))
        elif isinstance(node, ast.Assign):
            self.expr(node.value)
            info = function_info(node.value) if isinstance(node.value, ast.Lambda) else None
            for target in node.targets:
                self.target(target, info=info)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name):
                self.read(node.target.id, node.lineno)
                self.expr(node.value)
                self.bind(node.target.id)
            else:
                self.expr(node.target)
                self.expr(node.value)
                self.mutate(_root_name(node.target), node.lineno)
        elif isinstance(node, ast.Expr):
            self.expr(node.value)
            self.mutate(mutated_by_call(node.value), node.lineno)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.expr(node.value)
            self.expr(node.annotation)
            if node.value is not None:
                self.target(node.target)
            elif not isinstance(node.target, ast.Name):
                self.expr(node.target)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.unbind(target.id)
                else:
                    self.expr(target)
                    self.mutate(_root_name(target), node.lineno)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    self.root().star_imports.append((self.cell, node.lineno))
                else:
                    self.bind(alias.asname or alias.name.split(".")[0])
                    self.imports.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.If):
            self.expr(node.test)
            self._branches([node.body, node.orelse])
        elif isinstance(node, ast.For | ast.AsyncFor):
            self.expr(node.iter)
            self._loop(node)
        elif isinstance(node, ast.While):
            self._loop(node)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.target(item.optional_vars)
            self.block(node.body)
        elif isinstance(node, ast.Try | getattr(ast, "TryStar", ast.Try)):
            self._try(node)  # type: ignore[arg-type]
        elif isinstance(node, ast.Match):
            self._match(node)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            pass
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self.stmt(child)
                else:
                    self.expr(child)

    def _try(self, node: ast.Try) -> None:
        start = set(self.definite)
        self._depth += 1
        self.block(node.body)
        self.block(node.orelse)
        ends = [self.definite]
        for handler in node.handlers:
            self.definite = set(start)
            if handler.type is not None:
                self.expr(handler.type)
            if handler.name:
                self.bind(handler.name)
            self.block(handler.body)
            ends.append(self.definite)
        self._depth -= 1
        self.definite = set.intersection(*ends)
        self.block(node.finalbody)

    def _match(self, node: ast.Match) -> None:
        self.expr(node.subject)
        start = set(self.definite)
        ends = []
        self._depth += 1
        for case in node.cases:
            self.definite = set(start)
            for sub in ast.walk(case.pattern):
                if isinstance(sub, ast.MatchValue | ast.MatchClass | ast.MatchMapping):
                    for child in ast.iter_child_nodes(sub):
                        if isinstance(child, ast.expr):
                            self.expr(child)
            for sub in ast.walk(case.pattern):
                name = getattr(sub, "name", None) or getattr(sub, "rest", None)
                if isinstance(name, str):
                    self.bind(name)
            if case.guard is not None:
                self.expr(case.guard)
            self.block(case.body)
            ends.append(self.definite)
        self._depth -= 1
        last = node.cases[-1] if node.cases else None
        exhaustive = (
            last is not None
            and isinstance(last.pattern, ast.MatchAs)
            and last.pattern.pattern is None
            and last.guard is None
        )
        result = set.intersection(*ends) if ends else set(start)
        self.definite = result if exhaustive else result & start

    # -- targets and expressions ------------------------------------------------
    def target(self, node: ast.expr, maybe: bool = False, info: FuncInfo | None = None) -> None:
        """Bind an assignment/for/with target (reading attribute/subscript bases)."""
        if isinstance(node, ast.Name):
            self.bind(node.id, maybe=maybe, info=info)
        elif isinstance(node, ast.Tuple | ast.List):
            for elt in node.elts:
                self.target(elt, maybe)
        elif isinstance(node, ast.Starred):
            self.target(node.value, maybe)
        elif isinstance(node, ast.Attribute):
            self.expr(node.value)
            self.mutate(_root_name(node), getattr(node, "lineno", None))
        elif isinstance(node, ast.Subscript):
            self.expr(node.value)
            self.expr(node.slice)
            self.mutate(_root_name(node), getattr(node, "lineno", None))

    def expr(self, node: ast.AST, local: frozenset[str] = frozenset(), maybe: bool = False) -> None:
        """Report the reads of an expression; *local*: enclosing comprehension variables."""
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id not in local:
                self.read(node.id, node.lineno)
        elif isinstance(node, ast.NamedExpr):
            self.expr(node.value, local, maybe)
            self.bind(node.target.id, maybe=maybe or bool(local))
        elif isinstance(node, ast.Lambda):
            for expr in signature_expressions(node):
                self.expr(expr, local, maybe)
            info = function_info(node)
            self.use_function(
                FuncInfo(info.globals_read - local, info.globals_written), node.lineno
            )
        elif isinstance(node, _COMPREHENSIONS):
            self._comprehension(node, local)
        elif isinstance(node, ast.BoolOp):
            self.expr(node.values[0], local, maybe)
            for value in node.values[1:]:
                self.expr(value, local, True)
        elif isinstance(node, ast.IfExp):
            self.expr(node.test, local, maybe)
            self.expr(node.body, local, True)
            self.expr(node.orelse, local, True)
        else:
            for child in ast.iter_child_nodes(node):
                self.expr(child, local, maybe)

    def _comprehension(self, node: ast.expr, local: frozenset[str]) -> None:
        gens: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        self.expr(gens[0].iter, local)
        inner = set(local)
        for i, gen in enumerate(gens):
            if i:
                self.expr(gen.iter, frozenset(inner), True)
            inner |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
            for cond in gen.ifs:
                self.expr(cond, frozenset(inner), True)
        parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]  # type: ignore[attr-defined]
        for part in parts:
            self.expr(part, frozenset(inner), True)
