"""Explicit pip requirements for a published model, from the run's kernel environment.

Passing them to MLflow skips its ≈3 s requirement inference (a subprocess that loads the
model). Kernel and notebook machinery are dropped: they are imported by the kernel, not by
the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import metadata

_INFRA = {
    "ipykernel", "ipython", "jupyter-client", "jupyter-core", "jupyter-server", "traitlets",
    "tornado", "pyzmq", "debugpy", "comm", "matplotlib-inline", "prompt-toolkit", "pygments",
    "jedi", "parso", "decorator", "stack-data", "executing", "asttokens", "pure-eval",
    "wcwidth", "pexpect", "ptyprocess", "psutil", "nest-asyncio", "platformdirs", "papermill",
    "nbformat", "nbclient", "nbconvert", "jupyter-mlops", "ipywidgets", "widgetsnbextension",
    "jupyterlab-widgets", "pip", "setuptools", "wheel", "mlflow", "mlflow-skinny",
    "typing-extensions", "packaging", "six", "exceptiongroup", "tomli", "fastjsonschema",
    "jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "attrs",
    "entrypoints", "tqdm", "pyyaml", "tenacity", "ansicolors", "click", "requests",
    "urllib3", "idna", "certifi", "charset-normalizer", "python-dateutil", "appnope",
}  # fmt: skip


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def pip_requirements(
    packages: Mapping[str, str] | None,
    needed: Iterable[str] = (),
    versions: Mapping[str, str | None] | None = None,
) -> list[str]:
    """``name==version`` pins for the run's packages (minus kernel machinery) plus ``needed``
    distributions (pinned to the run's version, else ``versions`` — the kernel's —, else
    the installed one)."""
    pins: dict[str, str] = {}
    for name, version in (packages or {}).items():
        if canonical(name) not in _INFRA and version:
            pins[canonical(name)] = f"{name}=={version}"
    for dist in needed:
        key = canonical(dist)
        if key not in pins:
            version = (versions or {}).get(dist) or installed_version(dist)
            pins[key] = f"{dist}=={version}" if version else dist
    return sorted(pins.values(), key=str.lower)
