"""Import directions: a lower layer never imports an upper one (lazy imports included).

Layers, top to bottom: surfaces (cli, handlers, extension, widgets, the package's lazy
``__init__``) -> the service facade (service*, api) -> registry, runner -> compiler,
serialization, kernel_io, errors, settings, gitinfo, version. Within the middle layer the
runner never imports the registry (the registry reads runs, not the other way round).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jupyter_mlops"

LAYERS = {
    "cli": 4, "handlers": 4, "extension": 4, "widgets": 4, "__init__": 4,
    "handlers_pipeline": 4, "handlers_runs": 4, "handlers_models": 4, "server": 4,
    "service": 3, "service_runs": 3, "service_registry": 3, "api": 3,
    "service_schedules": 3, "handlers_schedules": 4, "schedules": 2,
    "registry": 2, "runner": 2,
    "compiler": 1, "serialization": 1, "kernel_io": 1, "errors": 1, "settings": 1,
    "gitinfo": 1, "_version": 1, "_version_info": 1, "labextension": 1, "kernel_reads": 1,
    "jsonsafe": 1, "kernel_models": 1, "kernel_package": 1, "durations": 1,
    "kernel_signature": 1, "handlers_verify": 4, "service_verify": 3, "kernel_capture": 1,
}  # fmt: skip
FORBIDDEN = {("runner", "registry")}  # same layer, but one way only


def unit(module: str) -> str:
    """``jupyter_mlops.runner.store`` -> ``runner`` (the first name below the package)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path, package: Path) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1] if len(parts) > 2 else [*parts[:-1], "__init__"]
    return ".".join(parts)


def imports(path: Path, package: Path) -> list[tuple[int, str]]:
    """Every module of the package imported by ``path`` (at any depth), with its line.

    A bare ``import jupyter_mlops`` (e.g. for its ``__file__``) is not counted: the package's
    ``__init__`` imports nothing eagerly.
    """
    name = package.name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = list(path.relative_to(package.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith(name + ".")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == name:  # from jupyter_mlops import x / from . import x: x is a module
                found += [(node.lineno, f"{name}.{a.name}") for a in node.names]
            elif target.startswith(name + "."):
                found.append((node.lineno, target))
    return found


def violations(package: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package)
        source = unit(module_name(path, package))
        if source not in LAYERS:
            problems.append(f"{where}: {source} is in no layer")
            continue
        for line, target in imports(path, package):
            dest = unit(target)
            if dest not in LAYERS:
                problems.append(f"{where}:{line}: {target} is in no layer")
            elif dest != source and (LAYERS[dest] > LAYERS[source] or (source, dest) in FORBIDDEN):
                problems.append(
                    f"{where}:{line}: {source} (layer {LAYERS[source]}) "
                    f"imports {target} (layer {LAYERS[dest]})"
                )
    return problems


def test_no_lower_layer_imports_an_upper_one() -> None:
    assert violations() == []


def test_the_check_catches_upward_and_forbidden_imports(tmp_path: Path) -> None:
    package = tmp_path / "jupyter_mlops"
    (package / "runner").mkdir(parents=True)
    (package / "registry").mkdir()
    (package / "__init__.py").write_text("")
    (package / "runner" / "__init__.py").write_text("")
    (package / "registry" / "__init__.py").write_text("")
    (package / "runner" / "run.py").write_text(
        "def f():\n    from ..service import MlopsService\n"  # lazy, still upward
        "from ..registry.provenance import git_info\n"
    )
    (package / "registry" / "api.py").write_text("import jupyter_mlops.service\n")
    (package / "compiler.py").write_text("from . import errors\nfrom .cli import app\n")
    assert sorted(violations(package)) == [
        "compiler.py:2: compiler (layer 1) imports jupyter_mlops.cli (layer 4)",
        "registry/api.py:1: registry (layer 2) imports jupyter_mlops.service (layer 3)",
        "runner/run.py:2: runner (layer 2) imports jupyter_mlops.service (layer 3)",
        "runner/run.py:3: runner (layer 2) imports jupyter_mlops.registry.provenance (layer 2)",
    ]


OPTIONAL = ("distributed", "dask", "fsspec", "s3fs")  # the [dask] and [s3] extras
OPTIONAL_HOMES = {"runner/executors/dask.py", "runner/executors/dask_worker.py",
                  "runner/artifact_store.py"}  # fmt: skip


def test_dask_and_fsspec_are_imported_only_by_the_dask_executor() -> None:
    """Nothing of the extras is imported (even lazily) outside the Dask executor's modules,
    and those are imported only when ``--executor dask`` is used (``executors/__init__``)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where in OPTIONAL_HOMES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            found += [f"{where}:{node.lineno}: {n}" for n in names
                      if n.split(".")[0] in OPTIONAL]  # fmt: skip
    assert found == []
