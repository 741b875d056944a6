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
from .errors import Forbidden, InvalidInput, NotFound
from .service_registry import RegistryOperations
from .service_runs import RunOperations
from .service_schedules import ScheduleOperations
from .service_verify import VerifyOperations
from .settings import StoreLocation, locate_registry, locate_store, mlflow_env_line


@dataclass
class MlopsService(RunOperations, RegistryOperations, ScheduleOperations, VerifyOperations):
    """Operations on notebooks, runs and models, rooted at ``root_dir``.

    ``root_dir`` confines notebook paths (the Jupyter server's root); ``None`` allows any path
    (the CLI acts for the local user). ``allow_hidden`` False refuses hidden files and folders
    below the root, as the server's contents manager does.
    """

    store: Path
    registry_uri: str
    root_dir: Path | None = None
    _extra: dict[str, Any] = field(default_factory=dict)
    location: StoreLocation | None = None
    registry_how: str = ""
    explicit_registry: str | None = None
    store_how: str = "--store"
    allow_hidden: bool = True
    executor: Any = None  # an ExecutorSpec for runs (server settings); None: the environment's
    cluster: Any = None  # the Dask ExecutorSpec a run request may ask for (server settings)

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
            store_how=self.store_how, allow_hidden=self.allow_hidden, executor=self.executor,
            cluster=self.cluster,
        )  # fmt: skip

    def store_for(self, notebook: str | None) -> Path:
        """The store of ``notebook`` (a path as the surface received it)."""
        return self.for_notebook(self.notebook_path(notebook) if notebook else None).store

    # -- paths -------------------------------------------------------------------------------
    def notebook_path(self, path: str, must_exist: bool = True) -> Path:
        """Resolve a notebook path, confined to ``root_dir`` when one is set (outside it:
        :class:`Forbidden`; a hidden one the server hides: :class:`NotFound`)."""
        if not path:
            raise InvalidInput("a notebook path is required")
        try:
            return self._notebook_path(path, must_exist)
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a symlink loop
            shown = path if len(path) <= 60 else path[:57] + "..."
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise InvalidInput(f"{shown!r}: not a usable notebook path ({reason})") from None

    def _notebook_path(self, path: str, must_exist: bool = True) -> Path:
        if self.root_dir is None:
            resolved = Path(path).expanduser().resolve()
        else:
            candidate = Path(path)
            if candidate.is_absolute():
                raise Forbidden(f"{path}: use a path relative to the server root")
            resolved = (self.root_dir / candidate).resolve()
            if resolved != self.root_dir and self.root_dir not in resolved.parents:
                raise Forbidden(f"{path}: path is outside the server root")
            if not self.allow_hidden and _hidden(candidate, resolved, self.root_dir):
                raise NotFound(f"{path}: no such notebook")  # as the contents API answers
        if must_exist and not resolved.is_file():
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
            **self.executors_shown(),
        }

    def executors_shown(self) -> dict[str, Any]:
        """``executor``: where runs started here execute by default (the server's setting,
        else the environment's; ``error`` when ``$JUPYTER_MLOPS_EXECUTOR`` and friends are
        wrong); ``cluster``: the Dask cluster a run request may ask for, if any. Without
        credentials."""
        from .runner.executors import EXECUTOR_ENV, resolve_executor

        try:
            default = self.executor or resolve_executor()
        except InvalidInput as exc:
            name = os.environ.get(EXECUTOR_ENV, "").strip().lower()
            return {"executor": {"name": name, "error": str(exc)}, "cluster": None}
        cluster = self._cluster(default)
        return {"executor": default.shown(), "cluster": cluster.shown() if cluster else None}

    def _cluster(self, default: Any) -> Any:
        """The Dask cluster a run may ask for: the configured one, else the default
        executor when that is Dask; None when there is none."""
        return self.cluster or (None if default.local else default)

    def executor_named(self, name: str | None) -> Any:
        """The ``ExecutorSpec`` a run request names: ``local``, ``dask`` (the configured
        cluster) or None (the default)."""
        from .runner.executors import ExecutorSpec, resolve_executor

        if name is None:
            return self.executor
        if name == "local":
            return ExecutorSpec()
        if name != "dask":
            raise InvalidInput(f"'executor' must be 'local' or 'dask', got {name!r}")
        cluster = self._cluster(self.executor or resolve_executor())
        if cluster is None:
            raise InvalidInput(
                "'executor': 'dask' needs a Dask cluster in the server settings "
                "(c.MlopsExtension.dask_scheduler and artifacts)"
            )
        return cluster

    # -- compile -----------------------------------------------------------------------------
    def compile(self, path: str) -> dict[str, Any]:
        """Compile a notebook into its pipeline description (``Pipeline.to_dict()``)."""
        return self.pipeline(path).to_dict()

    def pipeline(self, path: str) -> Any:
        """The compiled :class:`~jupyter_mlops.compiler.pipeline.Pipeline` of a notebook."""
        from .compiler import compile_notebook

        return compile_notebook(str(self.notebook_path(path)))

    def pipeline_view(self, path: str, content: Any = None) -> dict[str, Any]:
        """What the panel shows of a notebook: ``{"pipeline": Pipeline.to_dict() | None,
        "errors", "warnings", "parameters_schema", "publish_defaults"}``. A notebook that does
        not compile is data here (errors located by cell), not an exception. ``content``: the
        notebook as in the editor, unsaved (the file is then neither read nor required)."""
        from .compiler.notebook_io import load_notebook

        file = self.notebook_path(path, must_exist=content is None)
        if content is None:
            try:
                content, _ = load_notebook(str(file))
            except NotFound:
                raise
            except InvalidInput as exc:  # not JSON, not UTF-8: the file is not a notebook
                return _view(file, None, exc)
        return _view(file, content, None)


def _hidden(given: Path, resolved: Path, root: Path) -> bool:
    """A dot-name in the path as given or as resolved below ``root`` (jupyter_server's rule,
    without the OS hidden flags)."""
    parts = [*given.parts, *resolved.relative_to(root).parts]
    return any(p.startswith(".") and p not in (".", "..") for p in parts)


def _view(file: Path, nb: Any, failure: InvalidInput | None) -> dict[str, Any]:
    """:meth:`MlopsService.pipeline_view` of notebook ``nb`` (None: ``failure`` says why)."""
    from .compiler import CompileError, compile_notebook
    from .compiler.diagnostics import item
    from .compiler.parameters import parameters_schema
    from .registry.publish_defaults import publish_defaults

    pipeline, errors, warnings, parameters = None, [], [], {}
    if failure is None:
        try:
            compiled = compile_notebook(nb, path=str(file))
        except CompileError as exc:
            errors, warnings = exc.items, exc.warning_items
            parameters = _parameters_only(nb)
        except InvalidInput as exc:  # not a notebook (structure)
            errors = [item(m) for m in exc.messages]
        else:
            pipeline, warnings, parameters = (
                compiled.to_dict(), compiled.warning_items, compiled.parameters
            )  # fmt: skip
    else:
        errors = [item(m) for m in failure.messages]
    defaults, problems = publish_defaults(nb, str(file))
    return {
        "pipeline": pipeline,
        "errors": errors,
        "warnings": [*warnings, *(item(m) for m in problems)],
        "parameters_schema": parameters_schema(parameters),
        "publish_defaults": defaults,
    }


def _parameters_only(nb: Any) -> dict[str, dict[str, Any]]:
    """The parameters of a notebook that does not compile, from its parameters cell alone
    (the form still shows them); none if that cell has problems of its own."""
    from .compiler.notebook_io import read_cells
    from .compiler.parameters import parse_parameters
    from .compiler.source import parse_cell

    try:
        cells = read_cells(nb, "<notebook>")
        cell = next(c for c in cells if c.cell_type == "code" and "parameters" in c.tags)
        params, _problems = parse_parameters(parse_cell(cell.source))
    except (InvalidInput, StopIteration, SyntaxError):
        return {}
    return {p.name: {"default": p.default, "type": p.type} for p in params}
