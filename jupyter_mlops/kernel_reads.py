"""Code that runs inside the user's kernel: record the files and folders a step reads.

A Python audit hook (installed once per kernel: hooks cannot be removed) watches ``open``
(reads only), ``os.listdir`` and ``os.scandir`` while a step runs. At the end of the step,
:func:`collect` stats each path again and returns, per path, its size, mtime and sha256
(a folder: the sha256 of its sorted listing), for the runner's cache-validity check.

Left out: what is not the step's data — the environment's own files (``sys.prefix``,
site-packages, the standard library), imports (the import system's own reads),
``__pycache__``, the run store and the staging area, ``/proc``, ``/dev``, ``/sys``,
``/run``, ``/etc``, ``/usr``, Jupyter's and IPython's folders, ``~/.cache``, ``~/.config``,
and files the step opened for writing. Python modules loaded from the notebook's folder
count as read. Only the standard library is imported.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_EVENTS = frozenset(("open", "os.listdir", "os.scandir"))
_SYSTEM = ("/proc", "/dev", "/sys", "/run", "/etc", "/usr", "/lib", "/lib64", "/bin", "/sbin")

_on = False
_installed = False
_base = ""
_reads: dict[str, tuple[str, tuple[int, int] | None]] = {}  # path -> (kind, first stat)
_written: set[str] = set()
_declared: list[str] = []
_exclude: tuple[str, ...] = ()


def _first_stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


# code that reads files to find modules and package metadata, not data
_IMPORT_CODE = (
    "<frozen ",
    f"{os.sep}importlib{os.sep}",
    f"{os.sep}pkgutil.py",
    f"{os.sep}pkg_resources{os.sep}",
    f"{os.sep}importlib_metadata{os.sep}",
    f"{os.sep}importlib_resources{os.sep}",
)


def _from_import_system() -> bool:
    """Whether the Python code that triggered the event is the import system (finders,
    ``importlib.metadata``, ``pkgutil``, ``pkg_resources``)."""
    frame = sys._getframe(2)
    name = frame.f_code.co_filename if frame is not None else ""
    return name.startswith("<frozen ") or any(part in name for part in _IMPORT_CODE[1:])


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _on or event not in _EVENTS:
        return
    try:
        target = args[0]
        if target is None:
            target = "."
        elif isinstance(target, int):
            return
        path = os.path.abspath(os.fsdecode(os.fspath(target)))
        if event == "open":
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags > 0 and flags & _WRITE_FLAGS
            )
            if writing:
                _written.add(path)
                return
            kind = "file"
        else:
            kind = "dir"
        if path in _reads or _from_import_system():
            return
        _reads[path] = (kind, _first_stat(path))
    except Exception:  # noqa: BLE001, S110 - a hook that raises would fail the user's call
        pass


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


_defaults: tuple[tuple[str, ...], frozenset[str]] | None = None  # (inputs, their real paths)


def _default_prefixes() -> frozenset[str]:
    """The real paths of :func:`_default_exclusions`, resolved again only when those change
    (resolving them costs more than a trivial step)."""
    global _defaults
    found = tuple(_default_exclusions())
    if _defaults is None or _defaults[0] != found:
        _defaults = (found, frozenset(_real(p) for p in found))
    return _defaults[1]


_environment_paths: tuple[str, ...] | None = None


def _installation_paths() -> tuple[str, ...]:
    """The Python installation's folders (worked out once per kernel: they do not change
    while it runs, and ``sysconfig.get_paths()`` alone costs ≈ 0.3 ms)."""
    global _environment_paths
    if _environment_paths is None:
        import site
        import sysconfig

        _environment_paths = (
            sys.prefix,
            sys.exec_prefix,
            sys.base_prefix,
            sys.base_exec_prefix,
            *sysconfig.get_paths().values(),
            *(site.getsitepackages() if hasattr(site, "getsitepackages") else []),
            site.getusersitepackages() if hasattr(site, "getusersitepackages") else "",
            os.path.dirname(os.path.abspath(__file__)),  # jupyter_mlops itself
        )
    return _environment_paths


def _default_exclusions() -> list[str]:
    """The installation's folders, system folders, and the folders of Jupyter, IPython and
    caches (the environment variables naming those are read again for every step)."""
    home = os.path.expanduser("~")
    env = os.environ.get
    found = [
        *_installation_paths(),
        *_SYSTEM,
        env("IPYTHONDIR") or os.path.join(home, ".ipython"),
        env("JUPYTER_CONFIG_DIR") or os.path.join(home, ".jupyter"),
        env("JUPYTER_DATA_DIR") or os.path.join(home, ".local", "share", "jupyter"),
        env("JUPYTER_RUNTIME_DIR") or "",
        env("XDG_CACHE_HOME") or os.path.join(home, ".cache"),
        env("XDG_CONFIG_HOME") or os.path.join(home, ".config"),
        env("MPLCONFIGDIR") or os.path.join(home, ".matplotlib"),
    ]
    return [p for p in found if p]


def start(base: str, exclude: list[str], declared: list[str]) -> None:
    """Begin recording the reads of one step (``base``: the notebook's folder; ``exclude``:
    extra folders that are not data; ``declared``: paths from ``reads:`` tags)."""
    global _on, _installed, _base, _exclude, _declared
    _on = False
    _reads.clear()
    _written.clear()
    _base = _real(base)
    prefixes = {*_default_prefixes(), *(_real(p) for p in exclude)}
    # never exclude the notebook's own folder (a venv may hold the project, not the reverse)
    _exclude = tuple(
        p.rstrip(os.sep) + os.sep
        for p in prefixes
        if p != os.sep and not (_base + os.sep).startswith(p.rstrip(os.sep) + os.sep)
    )
    _declared = list(declared)
    if not _installed and hasattr(sys, "addaudithook"):  # CPython ≥ 3.8
        sys.addaudithook(_hook)
        _installed = True
    _on = True


def _excluded(path: str) -> bool:
    if "__pycache__" in path or path.endswith((".pyc", ".pyo")):
        return True
    return (path + os.sep).startswith(_exclude)


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def listing_sha256(path: str) -> str:
    """sha256 of a folder's sorted entry names (folders marked with a trailing '/')."""
    names = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(path))
    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def describe(path: str, kind: str, first: tuple[int, int] | None = None) -> dict[str, Any]:
    """The record of one read: size, mtime and digest (``kind`` is file or dir); ``missing``
    when it does not exist, ``unstable`` when it changed after the step first read it."""
    try:
        st = os.stat(path)
    except OSError:
        return {"kind": "missing"}
    if first is not None and first != (st.st_size, st.st_mtime_ns):
        return {"kind": "unstable"}
    try:
        if os.path.isdir(path):
            return {"kind": "dir", "mtime_ns": st.st_mtime_ns, "listing": listing_sha256(path)}
        entry = {"kind": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        entry["sha256"] = _file_sha256(path)
    except OSError:
        return {"kind": "unstable"}
    if (st.st_size, st.st_mtime_ns) != _first_stat(path):
        return {"kind": "unstable"}
    return entry


def _name(path: str) -> str:
    """Relative to the notebook's folder when inside it (the record survives a move)."""
    if path == _base:
        return "."
    if path.startswith(_base + os.sep):
        return path[len(_base) + 1 :]
    return path


_modules_seen: dict[str, Any] = {}  # sys.modules when last looked at
_module_found: dict[str, str] = {}  # module name -> its .py file under the notebook's folder
_module_base = ""  # the folder those were worked out for


def _module_files() -> dict[str, str]:
    """Python modules loaded in this kernel from the notebook's folder.

    ``sys.modules`` is looked at again only when it changed since the last step (a
    comparison done in C), and then only its new or replaced entries: a kernel with pandas
    or scikit-learn holds thousands of modules, and steps rarely import new ones."""
    global _modules_seen, _module_base
    if _module_base != _base:
        _modules_seen, _module_base = {}, _base
        _module_found.clear()
    try:
        unchanged = sys.modules == _modules_seen  # same objects: no __eq__ is called
    except Exception:  # noqa: BLE001 - an odd object in sys.modules with a failing __eq__
        unchanged = False
    if not unchanged:
        current = dict(sys.modules)
        inside = _base + os.sep
        for name, module in current.items():
            if _modules_seen.get(name) is module:
                continue
            file = getattr(module, "__file__", None)
            path = os.path.abspath(file) if isinstance(file, str) and file.endswith(".py") else None
            if path is not None and path.startswith(inside):
                _module_found[name] = path
            else:
                _module_found.pop(name, None)
        for name in _module_found.keys() - current.keys():
            del _module_found[name]
        _modules_seen = current
    return {p: "file" for p in _module_found.values() if not _excluded(p)}


def _declared_paths() -> dict[str, str]:
    """``reads:`` paths: a folder counts with everything below it."""
    found: dict[str, str] = {}
    for path in _declared:
        path = os.path.abspath(path)
        if not os.path.isdir(path):
            found[path] = "file"
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            found[root] = "dir"
            for name in files:
                found[os.path.join(root, name)] = "file"
    return found


def collect() -> dict[str, Any]:
    """Stop recording; ``{"checked_ns": ..., "paths": {path: record}}`` for the manifest."""
    global _on
    _on = False
    checked_ns = time.time_ns()
    observed: dict[str, tuple[str, tuple[int, int] | None]] = {}
    for path, (kind, first) in list(_reads.items()):
        if path in _written or _excluded(path):
            continue
        observed[path] = (kind, first)
    for path, kind in {**_module_files(), **_declared_paths()}.items():
        if path not in _written:
            observed.setdefault(path, (kind, None))
    paths = {}
    for path, (kind, first) in sorted(observed.items()):
        entry = describe(path, kind, first)
        if entry["kind"] == "missing" and first is not None:
            entry = {"kind": "unstable"}
        paths[_name(path)] = entry
    _reads.clear()
    _written.clear()
    return {"checked_ns": checked_ns, "paths": paths}
