"""The kernel-side helpers as a standalone package, ``_jupyter_mlops_kernel``.

Kernels (and the deployability check, which runs with the kernel's Python) must reach our
stdlib-only kernel modules without seeing anything else of the server's environment. The
modules are copied, under a content hash, into a private folder of the current user
(``$TMPDIR/jupyter-mlops-<uid>/kernel-<hash>/_jupyter_mlops_kernel``, 0700) and only that
folder is put on the kernel's ``PYTHONPATH``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

PACKAGE = "_jupyter_mlops_kernel"
# stdlib-only modules (at module level) that run inside kernels; relative imports only
MODULES = ("serialization", "kernel_io", "kernel_models", "kernel_reads", "kernel_signature")
MODULES += ("kernel_capture",)  # verify's capture cells

_built: dict[str, Path] = {}


def _sources() -> dict[str, bytes]:
    here = Path(__file__).resolve().parent
    found = {}
    for name in MODULES:
        file = here / f"{name}.py"
        if file.is_file():
            found[f"{name}.py"] = file.read_bytes()
    found["__init__.py"] = b'"""jupyter-mlops kernel-side helpers (a private copy)."""\n'
    return found


def kernel_path() -> Path:
    """The folder to put on a kernel's path: it holds only ``_jupyter_mlops_kernel``."""
    from .errors import InvalidInput
    from .serialization import UnsafeFolder, private_dir

    try:
        return _kernel_path(private_dir, _sources())
    except UnsafeFolder as exc:
        raise InvalidInput(f"cannot prepare the kernel helpers: {exc}") from None


def _kernel_path(private_dir, sources: dict[str, bytes]) -> Path:
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name] + b"\0")
    key = digest.hexdigest()[:16]
    if key in _built and (_built[key] / PACKAGE / "__init__.py").is_file():
        return _built[key]
    base = Path(os.environ.get("JUPYTER_MLOPS_RUNTIME", tempfile.gettempdir()))
    root = private_dir(base / f"jupyter-mlops-{os.getuid()}")
    target = root / f"kernel-{key}"
    if not (target / PACKAGE / "__init__.py").is_file():
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
        (tmp / PACKAGE).mkdir()
        for name, data in sources.items():
            (tmp / PACKAGE / name).write_bytes(data)
        try:
            os.rename(tmp, target)
        except OSError:  # another process built it first
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    private_dir(target, create=False)
    _built[key] = target
    return target


def kernel_environ(kernel_name: str = "") -> dict[str, str]:
    """Our environment for a kernel's Python, with only :func:`kernel_path` added to its
    path and this Python's own site-packages (and our source tree) taken out of an
    inherited ``PYTHONPATH``: a kernel of another environment keeps its own packages."""
    import sysconfig

    env = dict(os.environ)
    ours = {
        os.path.realpath(p)
        for p in (sysconfig.get_path("purelib"), sysconfig.get_path("platlib"))
        if p
    }
    ours.add(str(Path(__file__).resolve().parent.parent))
    inherited = [
        p
        for p in env.get("PYTHONPATH", "").split(os.pathsep)
        if p and os.path.realpath(p) not in ours
    ]
    env["PYTHONPATH"] = os.pathsep.join([str(kernel_path()), *inherited])
    env["JUPYTER_MLOPS_KERNEL"] = kernel_name
    return env
