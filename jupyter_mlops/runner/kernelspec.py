"""Check, before a run starts, that the notebook's kernel exists and runs Python.

Reads kernel.json files directly (a few stat calls) instead of importing jupyter_client's
KernelSpecManager (0.15 s), so a fully cached run stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InvalidInput

NATIVE = "python3"  # ipykernel's own kernel, available without a kernel.json


def _specs() -> dict[str, Path]:
    from jupyter_core.paths import jupyter_path

    found: dict[str, Path] = {}
    for root in jupyter_path("kernels"):
        folder = Path(root)
        if not folder.is_dir():
            continue
        for spec in sorted(folder.glob("*/kernel.json")):
            found.setdefault(spec.parent.name.lower(), spec)
    return found


def find_spec(name: str) -> Path | None:
    """The kernel.json of kernel ``name`` (None for the native kernel without one)."""
    return _specs().get(name.lower())


def check_kernel(name: str, notebook: str) -> None:
    """Raise :class:`InvalidInput` unless kernel ``name`` is installed and is a Python kernel."""
    specs = _specs()
    spec = specs.get(name.lower())
    if spec is None:
        if name == NATIVE:
            return
        known = ", ".join(sorted(set(specs) | {NATIVE}))
        raise InvalidInput(
            f"{notebook}: kernel {name!r} (from the notebook's metadata) is not installed; "
            f"installed kernels: {known}. Change the notebook's kernel or install that kernel."
        )
    try:
        language = json.loads(spec.read_text(encoding="utf-8")).get("language", "")
    except (OSError, ValueError):
        language = ""
    if language and language.lower() != "python":
        raise InvalidInput(
            f"{notebook}: kernel {name!r} runs {language}; jupyter-mlops pipelines need a Python kernel"
        )
