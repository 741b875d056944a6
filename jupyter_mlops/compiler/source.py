"""Turn a cell's source (possibly with IPython syntax) into a Python ``ast.Module``.

Plain Python is parsed directly. Only when that fails is IPython's own input
transformer imported (lazily: it costs import time) to rewrite ``%magic``,
``%%cell magic`` and ``!shell`` lines. Two cases are kept analysable, with line
numbers unchanged: ``%%time`` / ``%%capture [NAME]`` / ``%%prun`` cells (their body
is Python run in the user namespace) and ``%time STATEMENT`` lines.
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Any

#: Cell magics whose body is Python executed in the user namespace.
PYTHON_CELL_MAGICS = frozenset({"time", "capture", "prun"})

_LINE_TIME = re.compile(r"^(\s*)%time\s+(?=\S)", re.MULTILINE)
_CELL_MAGIC = re.compile(r"^\s*%%(\w+)[ \t]*(.*)$")

_transformer: Any = None


def _ipython_transform(source: str) -> str:
    global _transformer
    if _transformer is None:
        from IPython.core.inputtransformer2 import TransformerManager

        _transformer = TransformerManager()
    return _transformer.transform_cell(source)


def to_python(source: str) -> str:
    """Python text for *source*, same line numbers where the magics allow."""
    try:
        ast.parse(source)
        return source
    except SyntaxError:
        pass
    lines = source.split("\n")
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first < len(lines):
        match = _CELL_MAGIC.match(lines[first])
        if match and match.group(1) in PYTHON_CELL_MAGICS:
            magic, args = match.group(1), match.group(2).strip()
            call = f"get_ipython().run_cell_magic({magic!r}, {args!r}, None)"
            names = [a for a in args.split() if not a.startswith("-")]
            target = names[0] if magic == "capture" and names else ""
            if target.isidentifier():
                call = f"{target} = {call}"
            body = "\n".join(lines[first + 1 :])
            return "\n" * first + call + "\n" + to_python(body)
    source = _LINE_TIME.sub(r"\1", source)
    try:
        ast.parse(source)
        return source
    except SyntaxError:
        pass
    if not any(c in source for c in "%!?"):
        return source
    return _ipython_transform(source)


#: Deepest nesting of syntax (an ``a + b + ...`` chain of N terms nests N levels; so does an
#: ``elif`` chain) that the analysis accepts; Python itself stops near 3000 levels.
MAX_DEPTH = 200


class TooDeeplyNested(SyntaxError):
    """A cell nests expressions or statements more deeply than :data:`MAX_DEPTH`."""

    def __init__(self, lineno: int | None) -> None:
        super().__init__(
            f"expression too deeply nested (more than {MAX_DEPTH} levels): "
            "split it into smaller statements"
        )
        self.lineno = lineno


def _check_depth(tree: ast.AST) -> None:
    """Raise :class:`TooDeeplyNested` past :data:`MAX_DEPTH` (iteratively: no recursion).

    Runs on every parsed cell, so it walks ``_fields`` itself (``ast.iter_child_nodes`` is
    a generator per node, about half the compile time of a notebook of small cells)."""
    node_type = ast.AST
    stack: list[tuple[ast.AST, int, int | None]] = [(tree, 0, None)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth, line = pop()
        line = getattr(node, "lineno", line)
        if depth > MAX_DEPTH:
            raise TooDeeplyNested(line)
        depth += 1
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, node_type):
                push((value, depth, line))
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, node_type):
                        push((item, depth, line))


def parse_cell(source: str) -> ast.Module:
    """Parse a cell; raises ``SyntaxError`` (with a cell-relative ``lineno``), of which
    :class:`TooDeeplyNested` for code nested too deeply to analyse (or to parse at all).

    The tree is shared with later calls for the same text (the panel recompiles the notebook
    at every pause in typing, most cells unchanged): treat it as read-only."""
    return _parse_cached(source)


@functools.lru_cache(maxsize=4096)
def _parse_cached(source: str) -> ast.Module:
    try:
        try:
            tree = ast.parse(source)  # plain Python: parsed once
        except SyntaxError:
            tree = ast.parse(to_python(source))
    except (RecursionError, MemoryError):
        raise TooDeeplyNested(None) from None
    _check_depth(tree)
    return tree


def normalize_code(source: str) -> str:
    """A canonical form of *source*, unchanged by comment/blank-line/whitespace edits."""
    try:
        return ast.unparse(parse_cell(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return source.strip()
