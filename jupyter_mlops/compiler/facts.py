"""What one code cell does, on its own: the names it binds, reads and changes, and what
kind of cell it is (setup-only, display-only). Pure: used by the split proposer and by the
verifier's explanations of a difference.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from .flow import NON_MUTATING_METHODS, Flow
from .scopes import FuncInfo
from .source import parse_cell

#: Builtins that only look at a value (a cell made of these and displays is display-only).
PURE_BUILTINS = frozenset(
    {
        *("print", "display", "repr", "len", "str", "type", "sorted", "list", "dict", "set"),
        *("tuple", "sum", "min", "max", "round", "abs", "format", "isinstance", "id", "hash"),
        *("vars", "dir", "range", "enumerate", "zip", "any", "all", "int", "float", "bool"),
        *("pprint", "reversed", "map", "filter", "getattr", "hasattr"),
    }
)
#: Methods that write files: never part of a display-only cell.
WRITERS = frozenset(
    {
        *("to_csv", "to_parquet", "to_excel", "to_pickle", "to_feather", "to_sql"),
        *("to_clipboard", "to_json", "save", "savefig", "to_hdf", "to_html", "to_latex"),
        *("to_markdown", "write", "dump", "to_file"),
    }
)
#: Methods used to display or inspect a value.
DISPLAY_METHODS = (NON_MUTATING_METHODS - WRITERS) | frozenset(
    {*("bar", "barh", "line", "pie", "kde", "area", "density", "heatmap", "pairplot")}
)
#: Methods that draw a value (``df.plot()``, ``s.plot.bar()``).
PLOT_METHODS = frozenset(
    {*("plot", "bar", "barh", "hist", "scatter", "line", "pie", "kde", "area", "boxplot"),
     *("heatmap", "density", "hexbin", "violinplot", "imshow")}
)  # fmt: skip
#: Top-level modules whose calls only draw or display.
PLOT_MODULES = frozenset({"matplotlib", "seaborn", "plotly", "altair", "bokeh", "IPython"})
#: Calls on imported modules that configure display or warnings (allowed in setup cells).
CONFIG_CALL = re.compile(
    r"^(set_option|set_printoptions|filterwarnings|simplefilter|use|set|set_theme|set_style|set_context|run_line_magic)$"
)

RANDOM = re.compile(
    r"\b(random\.\w+|np\.random\.\w+|numpy\.random\.\w+|default_rng|RandomState|"
    r"torch\.(rand\w*|manual_seed)|uuid\.uuid[14]|shuffle|secrets\.\w+|os\.urandom)\b"
)
SEEDED = re.compile(
    r"(\bseed\s*\(\s*[^)\s]|random_state\s*=\s*(?!None)\w|default_rng\s*\(\s*[^)\s]|"
    r"RandomState\s*\(\s*[^)\s]|manual_seed\s*\()"
)
UNSEEDED_ESTIMATOR = re.compile(
    r"\b(RandomForest\w*|ExtraTrees\w*|GradientBoosting\w*|KMeans|MLP\w*|SGD\w*|"
    r"train_test_split|KFold|ShuffleSplit|StratifiedKFold|shuffle)\s*\("
)
CLOCK = re.compile(
    r"\b(time\.time|time\.time_ns|time\.monotonic|time\.perf_counter|datetime\.now|"
    r"datetime\.utcnow|datetime\.today|date\.today|pd\.Timestamp\.now|Timestamp\.now|"
    r"time\.localtime|time\.gmtime|time\.ctime)\b"
)


@dataclass
class CellFacts:
    """One code cell, analysed alone (``tree`` None: it does not parse)."""

    index: int
    source: str
    tree: ast.Module | None = None
    binds: set[str] = field(default_factory=set)  # names it may bind
    assigns: set[str] = field(default_factory=set)  # bound by assignment/def/class/import
    reads: set[str] = field(default_factory=set)  # free names it reads (function bodies too)
    mutates: set[str] = field(default_factory=set)  # received names it changes in place
    passes: dict[str, int] = field(default_factory=dict)  # names passed to calls -> line
    funcs: dict[str, FuncInfo] = field(default_factory=dict)  # functions/classes it defines
    imports: dict[str, str] = field(default_factory=dict)  # alias -> top-level module
    blank: bool = False
    setup_only: bool = False  # only imports, functions, classes (and display config)
    display_only: bool = False  # only displays or inspects values
    statements: int = 0


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def analyse_cell(index: int, source: str) -> CellFacts:
    """The :class:`CellFacts` of one code cell's source."""
    facts = CellFacts(index, source)
    facts.blank = all(
        not line.strip() or line.lstrip().startswith("#") for line in source.splitlines()
    )
    if facts.blank:
        return facts
    try:
        tree = parse_cell(source)
    except SyntaxError:
        return facts
    facts.tree = tree
    facts.statements = len(tree.body)

    def on_read(flow: Flow, name: str, line: int | None, soft: bool) -> None:
        facts.reads.add(name)

    def on_mutate(flow: Flow, name: str, line: int | None) -> bool:
        facts.mutates.add(name)
        return False

    flow = Flow(on_read, on_mutate=on_mutate)
    flow.run(tree.body, index)
    facts.binds = set(flow.maybe)
    facts.funcs = {k: v for k, v in flow.funcs.items() if v is not None}
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    continue
                module = (stmt.module or "") if isinstance(stmt, ast.ImportFrom) else alias.name
                facts.imports[alias.asname or alias.name.split(".")[0]] = module.split(".")[0]
        if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                facts.assigns |= {
                    n.id for n in ast.walk(target) if isinstance(n, ast.Name)
                } & facts.binds
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            facts.assigns.add(stmt.name)
    facts.assigns |= set(facts.imports)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in PURE_BUILTINS
        ):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(arg, ast.Starred):
                    arg = arg.value
                if isinstance(arg, ast.Name):
                    facts.passes.setdefault(arg.id, node.lineno)
    facts.setup_only = all(_setup_statement(s, facts.imports) for s in tree.body)
    return facts


def _is_magic(node: ast.AST) -> bool:
    """``get_ipython().run_line_magic(...)`` (``%matplotlib inline`` and the like)."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("run_line_magic", "system", "getoutput")
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
    )


def _setup_statement(stmt: ast.stmt, imports: dict[str, str]) -> bool:
    if isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef):
        return True
    if isinstance(stmt, ast.ClassDef | ast.Pass):
        return True
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return True  # a docstring
        if _is_magic(value) and value.func.attr == "run_line_magic":  # type: ignore[attr-defined]
            return True
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            root = _root(value.func)
            return (
                isinstance(root, ast.Name)
                and root.id in imports
                and bool(CONFIG_CALL.match(value.func.attr))
            )
    return False


def display_only(facts: CellFacts, plot_names: set[str]) -> bool:
    """Whether every statement of the cell only displays or inspects values (``print``,
    ``display``, ``df.head()``, plotting calls, a bare expression), binding at most what
    plotting calls return (``fig, ax = plt.subplots()``). ``plot_names``: names bound to
    plotting modules."""
    if facts.tree is None or not facts.tree.body:
        return False
    local: set[str] = set()
    return all(_display_stmt(s, plot_names, local) for s in facts.tree.body)


def _display_stmt(stmt: ast.stmt, plot: set[str], local: set[str]) -> bool:
    if isinstance(stmt, ast.Expr):
        return _display_expr(stmt.value, plot, local)
    if isinstance(stmt, ast.Import | ast.ImportFrom):  # import matplotlib.pyplot as plt
        module = stmt.module if isinstance(stmt, ast.ImportFrom) else stmt.names[0].name
        return all(a.name != "*" for a in stmt.names) and (module or "").split(".")[0] in (
            PLOT_MODULES
        )
    if isinstance(stmt, ast.Assign):  # only drawings: fig, ax = plt.subplots(); ax = df.plot()
        call = stmt.value if isinstance(stmt.value, ast.Call) else None
        root = _root(call) if call is not None else None
        drawn = isinstance(root, ast.Name) and (root.id in plot or root.id in local)
        drawn = drawn or (
            call is not None
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in PLOT_METHODS
        )
        if not drawn or not _display_expr(stmt.value, plot, local):
            return False
        names = [n for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.expr)]
        if not all(isinstance(n, ast.Name | ast.Tuple | ast.List | ast.Starred) for n in names):
            return False  # an item or attribute assignment changes a value
        local |= {n.id for n in names if isinstance(n, ast.Name)}
        return True
    if isinstance(stmt, ast.For) and not stmt.orelse:
        if not _display_expr(stmt.iter, plot, local):
            return False
        local |= {n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name)}
        return all(_display_stmt(s, plot, local) for s in stmt.body)
    if isinstance(stmt, ast.If):
        return _display_expr(stmt.test, plot, local) and all(
            _display_stmt(s, plot, local) for s in [*stmt.body, *stmt.orelse]
        )
    return False


def _display_expr(node: ast.AST, plot: set[str], local: set[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.NamedExpr | ast.Await | ast.Yield | ast.YieldFrom):
            return False
        if not isinstance(sub, ast.Call):
            continue
        func = sub.func
        if isinstance(func, ast.Name):
            if func.id not in PURE_BUILTINS and func.id not in plot:
                return False
        elif isinstance(func, ast.Attribute):
            root = _root(func)
            on_local = isinstance(root, ast.Name) and (root.id in plot or root.id in local)
            if func.attr in WRITERS or not (on_local or func.attr in DISPLAY_METHODS):
                return False
        else:
            return False
    return True


def notebook_facts(sources: dict[int, str]) -> dict[int, CellFacts]:
    """:func:`analyse_cell` of every code cell (index -> source)."""
    return {i: analyse_cell(i, s) for i, s in sources.items()}


def plot_names(facts: dict[int, CellFacts]) -> set[str]:
    """Names bound anywhere to a plotting module or one of its functions."""
    return {
        alias for f in facts.values() for alias, mod in f.imports.items() if mod in PLOT_MODULES
    }
