"""The kernel environment's fingerprint: its Python version and installed distributions.

Part of every cache key, so installing, removing or upgrading a package in the kernel's
environment re-runs the steps. Computed without starting the kernel: the kernelspec's
``argv[0]`` is the kernel's Python (``python`` means ours, as in jupyter_client); that
Python is asked once for its version and ``sys.path`` (in the kernels' environment), and the
fingerprint is the sorted names of the ``*.dist-info``/``*.egg-info``/``*.egg-link``/``*.pth``
entries of those folders (a name carries the version: ``numpy-2.1.0.dist-info``).

Cached per kernelspec under ``<store>/kernel-envs/``: while the interpreter, the kernelspec
and the mtimes of the ``sys.path`` folders are unchanged (an install, removal or upgrade
adds or renames an entry there), a run costs a few ``stat`` calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .kernelspec import NATIVE

RACY_NS = 2_000_000_000  # an mtime this close to the last check is not trusted
_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".pth")
_PROBE = (
    "import json, sys; print(json.dumps({'python': '.'.join(map(str, sys.version_info[:3])),"
    " 'implementation': sys.implementation.name, 'path': [p for p in sys.path if p]}))"
)
_ENV_KEYS = ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "VIRTUAL_ENV")


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()


def _stat(path: str | os.PathLike[str] | None) -> list[int] | None:
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return None if st is None else [st.st_size, st.st_mtime_ns, st.st_ino]


def kernel_python(kernel: str) -> tuple[str, dict[str, str], Path | None]:
    """The kernel's Python executable, the kernelspec's ``env`` and its kernel.json."""
    from .kernelspec import find_spec

    spec = find_spec(kernel)
    if spec is None:
        return sys.executable, {}, None
    try:
        data = json.loads(spec.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    argv = data.get("argv") or [""]
    exe = str(argv[0])
    ours = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    if exe in ours or (not exe and kernel == NATIVE):
        exe = sys.executable
    elif exe and not os.path.isabs(exe):
        exe = shutil.which(exe) or exe
    env = {str(k): str(v) for k, v in (data.get("env") or {}).items()}
    return exe, env, spec


def _probe(exe: str, env: dict[str, str]) -> dict[str, Any] | None:
    try:
        out = subprocess.run(  # noqa: S603 - the kernelspec's own interpreter
            [exe, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60, check=True
        )
        info = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("path"), list) else None


def _listing(folders: list[str]) -> tuple[list[str], dict[str, int | None]]:
    """Distribution entries of ``folders`` and each folder's mtime (None: missing)."""
    names: set[str] = set()
    mtimes: dict[str, int | None] = {}
    for folder in folders:
        try:
            mtimes[folder] = os.stat(folder).st_mtime_ns
            with os.scandir(folder) as entries:
                names.update(e.name.lower() for e in entries if e.name.endswith(_SUFFIXES))
        except OSError:
            mtimes.setdefault(folder, None)
    return sorted(names), mtimes


def _unchanged(mtimes: dict[str, int | None], checked_ns: int) -> bool:
    for folder, recorded in mtimes.items():
        try:
            now = os.stat(folder).st_mtime_ns
        except OSError:
            now = None
        if now != recorded or (now is not None and now >= checked_ns - RACY_NS):
            return False
    return True


def fingerprint(kernel: str, cache_dir: Path) -> str:
    """The fingerprint of kernel ``kernel``'s environment (Python version + distributions)."""
    from .kernels import kernel_env

    exe, spec_env, spec = kernel_python(kernel)
    env = {**kernel_env(), **spec_env}
    ident = {
        "exe": exe,
        "exe_stat": _stat(exe),
        "spec": str(spec) if spec else None,
        "spec_stat": _stat(spec),
        "env": {k: env.get(k) for k in _ENV_KEYS},
    }
    cache_file = cache_dir / f"{_sha(ident)[:32]}.json"
    cached: dict[str, Any] | None = None
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
    if cached and _unchanged(cached["mtimes"], cached["checked_ns"]):
        return cached["fingerprint"]
    checked_ns = time.time_ns()
    info = cached["probe"] if cached else _probe(exe, env)
    if info is None:
        return "unknown:" + _sha(ident)  # an interpreter we cannot ask: keyed by its identity
    names, mtimes = _listing(info["path"])
    pth = sorted(n for n in names if n.endswith(".pth"))
    if cached and pth != cached.get("pth"):  # a .pth file may have changed sys.path
        info = _probe(exe, env)
        if info is None:
            return "unknown:" + _sha(ident)
        names, mtimes = _listing(info["path"])
        pth = sorted(n for n in names if n.endswith(".pth"))
    value = _sha({"python": info["python"], "impl": info.get("implementation"), "dists": names})
    record = {
        "kernel": kernel,
        "probe": info,
        "mtimes": mtimes,
        "pth": pth,
        "checked_ns": checked_ns,
        "fingerprint": value,
        "python": info["python"],
        "distributions": names,
    }
    with contextlib.suppress(OSError):
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, cache_file)
    return value
