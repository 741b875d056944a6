"""The one service layer that the CLI, the REST handlers and the widget all call.

Every method is synchronous and may block (SQLite, kernels, MLflow): the REST
handlers call it through an executor, never on the Tornado event loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._version_info import __version__
from .errors import InvalidInput, NotFound
from .service_registry import RegistryOperations
from .service_runs import RunOperations
from .settings import resolve_registry_uri, resolve_store


@dataclass
class MlopsService(RunOperations, RegistryOperations):
    """Operations on notebooks, runs and models, rooted at ``root_dir``.

    ``root_dir`` confines notebook paths (the Jupyter server's root); ``None`` allows any path
    (the CLI acts for the local user).
    """

    store: Path
    registry_uri: str
    root_dir: Path | None = None
    _extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        store: str | os.PathLike[str] | None = None,
        registry_uri: str | None = None,
        root_dir: str | os.PathLike[str] | None = None,
    ) -> MlopsService:
        root = Path(root_dir).resolve() if root_dir is not None else None
        store_path = resolve_store(store, cwd=str(root) if root else None)
        return cls(store_path, resolve_registry_uri(store_path, registry_uri), root)

    # -- paths -------------------------------------------------------------------------------
    def notebook_path(self, path: str) -> Path:
        """Resolve a notebook path, confined to ``root_dir`` when one is set."""
        if not path:
            raise InvalidInput("a notebook path is required")
        try:
            return self._notebook_path(path)
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a symlink loop
            shown = path if len(path) <= 60 else path[:57] + "..."
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise InvalidInput(f"{shown!r}: not a usable notebook path ({reason})") from None

    def _notebook_path(self, path: str) -> Path:
        if self.root_dir is None:
            resolved = Path(path).expanduser().resolve()
        else:
            candidate = Path(path)
            if candidate.is_absolute():
                raise InvalidInput(f"{path}: use a path relative to the server root")
            resolved = (self.root_dir / candidate).resolve()
            if resolved != self.root_dir and self.root_dir not in resolved.parents:
                raise InvalidInput(f"{path}: path is outside the server root")
        if not resolved.is_file():
            raise NotFound(f"{path}: no such notebook")
        return resolved

    # -- info --------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Version and where runs and models are kept."""
        return {
            "version": __version__,
            "store": str(self.store),
            "registry_uri": self.registry_uri,
        }

    # -- compile -----------------------------------------------------------------------------
    def compile(self, path: str) -> dict[str, Any]:
        """Compile a notebook into its pipeline description (``Pipeline.to_dict()``)."""
        from .compiler import compile_notebook

        return compile_notebook(str(self.notebook_path(path))).to_dict()
