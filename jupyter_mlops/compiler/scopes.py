"""Free (global) names of function, lambda and class bodies.

Function bodies run later, when called, so they are analysed flow-insensitively
with Python's scoping rules: a name bound anywhere in a function is local to it
unless declared ``global``/``nonlocal``; comprehensions have their own scope
(except walrus targets, which bind in the enclosing function).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


@dataclass
class FuncInfo:
    """What calling a function (or using a class) needs from the global namespace."""

    globals_read: set[str] = field(default_factory=set)
    globals_written: set[str] = field(default_factory=set)


def argument_names(args: ast.arguments) -> set[str]:
    """All parameter names of a signature."""
    names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    for extra in (args.vararg, args.kwarg):
        if extra is not None:
            names.add(extra.arg)
    return names


def signature_expressions(node: FunctionNode) -> list[ast.expr]:
    """Defaults, annotations and decorators: evaluated where the function is defined."""
    args = node.args
    exprs: list[ast.expr] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    if not isinstance(node, ast.Lambda):
        exprs.extend(node.decorator_list)
        for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
            if a is not None and a.annotation is not None:
                exprs.append(a.annotation)
        if node.returns is not None:
            exprs.append(node.returns)
    return exprs


class _Scope(ast.NodeVisitor):
    """Collects loads, stores and declarations of one function-like scope."""

    def __init__(self) -> None:
        self.loads: set[str] = set()
        self.stores: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.nested_free: set[str] = set()
        self.global_writes: set[str] = set()

    # names and declarations
    def visit_Name(self, node: ast.Name) -> None:
        (self.loads if isinstance(node.ctx, ast.Load) else self.stores).add(node.id)

    def visit_Global(self, node: ast.Global) -> None:
        self.globals.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.nonlocals.update(node.names)

    def visit_alias(self, node: ast.alias) -> None:
        if node.name != "*":
            self.stores.add(node.asname or node.name.split(".")[0])

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.stores.add(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.stores.add(node.rest)
        self.generic_visit(node)

    # nested scopes
    def _nested(self, node: FunctionNode) -> None:
        for expr in signature_expressions(node):
            self.visit(expr)
        info = function_info(node)
        self.nested_free |= info.globals_read
        self.global_writes |= info.globals_written

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.stores.add(node.name)
        self._nested(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._nested(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stores.add(node.name)
        for expr in [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]:
            self.visit(expr)
        inner = _Scope()
        for stmt in node.body:
            inner.visit(stmt)
        # methods do not see the class namespace; the class body itself does
        self.nested_free |= (inner.loads - inner.stores) | inner.nested_free
        self.global_writes |= inner.global_writes

    def _comprehension(self, node: ast.expr) -> None:
        gens: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        self.visit(gens[0].iter)
        inner = _Scope()
        for i, gen in enumerate(gens):
            inner.visit(gen.target)
            if i:
                inner.visit(gen.iter)
            for cond in gen.ifs:
                inner.visit(cond)
        if isinstance(node, ast.DictComp):
            inner.visit(node.key)
            inner.visit(node.value)
        else:
            inner.visit(node.elt)  # type: ignore[attr-defined]
        walrus = {n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr)}
        self.stores |= walrus
        self.loads |= (inner.loads | inner.nested_free) - (inner.stores - walrus)
        self.global_writes |= inner.global_writes

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension  # type: ignore[assignment]

    def result(self, params: set[str]) -> FuncInfo:
        local = (self.stores | params) - self.globals - self.nonlocals
        free = (self.loads | self.nested_free | self.nonlocals) - local
        return FuncInfo(free, (self.stores & self.globals) | self.global_writes)


def function_info(node: FunctionNode) -> FuncInfo:
    """Global names a function's body reads and writes (``global``) when called."""
    scope = _Scope()
    body = [node.body] if isinstance(node, ast.Lambda) else node.body
    for stmt in body:
        scope.visit(stmt)
    return scope.result(argument_names(node.args))


def class_info(node: ast.ClassDef) -> FuncInfo:
    """Global names a class's methods read (its body runs at definition, not here)."""
    info = FuncInfo()
    for stmt in node.body:
        for sub in _direct_functions(stmt):
            nested = function_info(sub)
            info.globals_read |= nested.globals_read
            info.globals_written |= nested.globals_written
    return info


def _direct_functions(node: ast.AST) -> list[FunctionNode]:
    """Functions, lambdas and nested classes' methods defined directly in a class body."""
    found: list[FunctionNode] = []
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return [node]
    if isinstance(node, ast.ClassDef):
        for stmt in node.body:
            found.extend(_direct_functions(stmt))
        return found
    for child in ast.iter_child_nodes(node):
        found.extend(_direct_functions(child))
    return found


def bound_names(statements: list[ast.stmt]) -> set[str]:
    """Names the statements may bind in their own scope (flow-insensitive)."""
    scope = _Scope()
    for stmt in statements:
        scope.visit(stmt)
    return (scope.stores - scope.nonlocals) | scope.global_writes
