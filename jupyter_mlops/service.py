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
from .settings import StoreLocation, locate_registry, locate_store, mlflow_env_line


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
    location: StoreLocation | None = None
    registry_how: str = ""
    explicit_registry: str | None = None
    store_how: str = "--store"

    @classmethod
    def create(
        cls,
        store: str | os.PathLike[str] | None = None,
        registry_uri: str | None = None,
        root_dir: str | os.PathLike[str] | None = None,
        *,
        store_how: str = "--store",
    ) -> MlopsService:
        """The service for commands without a notebook: the store is found from the current
        directory (the server: its root), unless ``store`` or ``$JUPYTER_MLOPS_STORE`` name it."""
        root = Path(root_dir).resolve() if root_dir is not None else None
        location = locate_store(store, cwd=root, how_explicit=store_how)
        registry = locate_registry(location.path, registry_uri)
        return cls(
            location.path, registry.uri, root, location=location, registry_how=registry.how,
            explicit_registry=registry_uri, store_how=store_how,
        )  # fmt: skip

    def for_notebook(self, notebook: Path | None) -> MlopsService:
        """The service whose store is found from ``notebook``'s folder (the server may hold
        notebooks of several projects); itself when the store was given explicitly."""
        if notebook is None or (self.location is not None and self.location.explicit):
            return self
        location = locate_store(start=notebook.parent, cwd=self.root_dir, how_explicit="")
        registry = locate_registry(location.path, self.explicit_registry)
        return MlopsService(
            location.path, registry.uri, self.root_dir, location=location,
            registry_how=registry.how, explicit_registry=self.explicit_registry,
            store_how=self.store_how,
        )  # fmt: skip

    def store_for(self, notebook: str | None) -> Path:
        """The store of ``notebook`` (a path as the surface received it)."""
        return self.for_notebook(self.notebook_path(notebook) if notebook else None).store

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
    def info(self, notebook: str | None = None) -> dict[str, Any]:
        """Version and where runs and models are kept (for ``notebook`` when given), how
        that was decided, and how to make plain MLflow see the same registry."""
        service = self.for_notebook(self.notebook_path(notebook) if notebook else None)
        location = service.location
        registry = locate_registry(service.store, service.explicit_registry, warn=False)
        return {
            "version": __version__,
            "notebook": str(self.notebook_path(notebook)) if notebook else None,
            "store": str(service.store),
            "store_how": location.how if location else "",
            "store_exists": service.store.is_dir(),
            "registry_uri": service.registry_uri,
            "registry_how": service.registry_how,
            "mlflow_env": mlflow_env_line(service.registry_uri),
            "warnings": [*(location.warnings if location else ()), *registry.warnings],
        }

    # -- compile -----------------------------------------------------------------------------
    def compile(self, path: str) -> dict[str, Any]:
        """Compile a notebook into its pipeline description (``Pipeline.to_dict()``)."""
        return self.pipeline(path).to_dict()

    def pipeline(self, path: str) -> Any:
        """The compiled :class:`~jupyter_mlops.compiler.pipeline.Pipeline` of a notebook."""
        from .compiler import compile_notebook

        return compile_notebook(str(self.notebook_path(path)))
