"""Where the store and the registry live, resolved the same way by every surface.

The store is found like git finds ``.git``: from the notebook's folder (or the current
directory) walk up to the nearest existing ``.mlops`` folder; when there is none, it will be
created at the top of the git work tree (if inside one), else in the current directory.
``--store``, ``$JUPYTER_MLOPS_STORE`` and the server trait ``MlopsExtension.store`` override
the search. Standard library only: every command resolves a store before anything heavy.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

STORE_ENV = "JUPYTER_MLOPS_STORE"
REGISTRY_ENV = "JUPYTER_MLOPS_REGISTRY_URI"
MLFLOW_ENV = "MLFLOW_TRACKING_URI"
DEFAULT_STORE = ".mlops"
REGISTRY_FILE = "registry.db"


class MlopsWarning(UserWarning):
    """Something the user should know about where runs and models go (shadowed store,
    a registry variable of another project); the CLI prints it as ``warning: ...``."""


@dataclass(frozen=True)
class StoreLocation:
    """A store folder and how it was chosen (``how`` is one line for ``info``)."""

    path: Path
    how: str
    explicit: bool = False
    shadows: Path | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def exists(self) -> bool:
        return self.path.is_dir()


def _absolute(value: str | os.PathLike[str], cwd: str | os.PathLike[str] | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(cwd or os.getcwd()) / path
    return path.resolve()


def _git_top(start: Path) -> Path | None:
    """The top of the git work tree holding ``start`` (a ``.git`` folder or file), else None."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def locate_store(
    store: str | os.PathLike[str] | None = None,
    *,
    start: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    how_explicit: str = "--store",
    warn: bool = True,
) -> StoreLocation:
    """Find the store for work started in folder ``start`` (default: ``cwd``).

    Precedence: ``store`` (described as ``how_explicit``) > ``$JUPYTER_MLOPS_STORE`` > the
    nearest ``.mlops`` folder in ``start`` or above > a new one at the top of the git work
    tree > a new one in ``cwd``. Nothing is created here. A ``.mlops`` that shadows another
    one further up is reported as an :class:`MlopsWarning` (when ``warn``).
    """
    cwd_path = Path(cwd).resolve() if cwd else Path(os.getcwd()).resolve()
    if store:
        return StoreLocation(_absolute(store, cwd_path), how_explicit, explicit=True)
    env = os.environ.get(STORE_ENV)
    if env:
        return StoreLocation(_absolute(env, cwd_path), f"${STORE_ENV}", explicit=True)
    begin = _absolute(start, cwd_path) if start else cwd_path
    found = [f / DEFAULT_STORE for f in (begin, *begin.parents) if (f / DEFAULT_STORE).is_dir()]
    if found:
        how = f"found: the nearest .mlops from {begin} upwards"
        location = StoreLocation(found[0], how, shadows=found[1] if len(found) > 1 else None)
        if location.shadows is not None:
            message = (
                f"the store {location.path} shadows the store {location.shadows} further up; "
                f"runs and models here go to {location.path} (remove one, or pass --store)"
            )
            location = StoreLocation(
                location.path, location.how, shadows=location.shadows, warnings=(message,)
            )
            if warn:
                warnings.warn(message, MlopsWarning, stacklevel=1)
        return location
    top = _git_top(begin)
    if top is not None:
        return StoreLocation(
            top / DEFAULT_STORE,
            f"no .mlops in {begin} or above: the top of the git work tree {top}",
        )
    return StoreLocation(
        cwd_path / DEFAULT_STORE,
        f"no .mlops in {begin} or above, not in a git work tree: the current directory",
    )


def resolve_store(
    store: str | os.PathLike[str] | None = None,
    cwd: str | None = None,
    start: str | os.PathLike[str] | None = None,
) -> Path:
    """The store folder (see :func:`locate_store`)."""
    return locate_store(store, start=start, cwd=cwd).path


def prepare_store(path: Path) -> Path:
    """Create the store folder owner-only (0700), with a ``.gitignore`` so git never sees it
    (also added to an existing ``.mlops``; never to another existing folder given as store)."""
    created = not path.is_dir()
    if created:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return path  # Store.open reports an unusable folder in one line
    gitignore = path / ".gitignore"
    if (created or path.name == DEFAULT_STORE) and not gitignore.exists():
        with contextlib.suppress(OSError):
            gitignore.write_text("# created by jupyter-mlops: never commit the store\n*\n")
    return path


# -- registry ------------------------------------------------------------------------------


def embedded_registry_uri(store: Path) -> str:
    return f"sqlite:///{store / REGISTRY_FILE}"


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:"):
        return None
    path = unquote(urlparse(uri).path)
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:":
        return None
    return Path(path).absolute()


def _is_store_folder(folder: Path) -> bool:
    return folder.name == DEFAULT_STORE or (folder / "runs.db").is_file()


def other_store_registry(store: Path, uri: str) -> Path | None:
    """The store folder whose embedded registry ``uri`` is, when it is not ``store``."""
    db = _sqlite_file(uri)
    if db is None or db.name != REGISTRY_FILE:
        return None
    folder = db.parent.resolve()
    if folder == store.resolve() or not _is_store_folder(folder):
        return None
    return folder


@dataclass(frozen=True)
class RegistryLocation:
    uri: str
    how: str
    warnings: tuple[str, ...] = ()


def locate_registry(store: Path, registry_uri: str | None = None, warn: bool = True):
    """Registry precedence: flag > ``$JUPYTER_MLOPS_REGISTRY_URI`` > ``$MLFLOW_TRACKING_URI`` >
    the embedded SQLite registry inside the store.

    ``$MLFLOW_TRACKING_URI`` naming another store's embedded registry (exported for another
    project) is not used: this store's registry is, with a warning naming both.
    """
    if registry_uri:
        return RegistryLocation(registry_uri, "--registry-uri")
    if os.environ.get(REGISTRY_ENV):
        return RegistryLocation(os.environ[REGISTRY_ENV], f"${REGISTRY_ENV}")
    mlflow_uri = os.environ.get(MLFLOW_ENV)
    own = embedded_registry_uri(store)
    if mlflow_uri:
        other = other_store_registry(store, mlflow_uri)
        if other is None:
            return RegistryLocation(mlflow_uri, f"${MLFLOW_ENV}")
        message = (
            f"${MLFLOW_ENV}={mlflow_uri} is the registry of another project's store ({other}); "
            f"ignoring it and using this project's registry {own} (use --registry-uri to "
            "choose, or unset it)"
        )
        if warn:
            warnings.warn(message, MlopsWarning, stacklevel=1)
        return RegistryLocation(own, f"embedded in the store {store}", (message,))
    return RegistryLocation(own, f"embedded in the store {store}")


def resolve_registry_uri(store: Path, registry_uri: str | None = None) -> str:
    """The registry URI for ``store`` (see :func:`locate_registry`)."""
    return locate_registry(store, registry_uri).uri


def mlflow_env_line(uri: str) -> str:
    """How to make plain MLflow use ``uri`` for one command."""
    import shlex

    return f"{MLFLOW_ENV}={shlex.quote(uri)} python ..."
