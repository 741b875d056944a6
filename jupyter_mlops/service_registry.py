"""Registry operations of :class:`~jupyter_mlops.service.MlopsService` (publish, models, aliases).

The heavy lifting lives in :mod:`jupyter_mlops.registry`; MLflow is imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import NotFound

_SLOW = object()  # the fast path could not answer


class RegistryOperations:
    """Mixin: every method uses ``self.store`` (Path) and ``self.registry_uri`` (str)."""

    store: Path
    registry_uri: str

    def _registry_client(self, name: str | None = None) -> Any:
        """The MLflow client of an existing registry: a missing local registry is
        :class:`NotFound` naming it (and model ``name``), and nothing is created."""
        from .registry.client import open_registry_client
        from .registry.fastread import require_registry

        require_registry(self.registry_uri, self.store, name)
        return open_registry_client(self.registry_uri)

    def _fast(self, read: Callable[[Any], Any]) -> Any:
        """``read(db)`` on the embedded registry without MLflow, or ``_SLOW`` when the fast
        path cannot answer (server URI, unknown schema revision)."""
        from .registry.fastread import Unavailable, connect

        try:
            with connect(self.registry_uri) as db:
                return read(db)
        except Unavailable:
            return _SLOW

    def _no_model(self, name: str) -> NotFound:
        return NotFound(f"no registered model {name!r} in the registry {self.registry_uri}")

    def publish(
        self,
        run_id: str,
        name: str | None = None,
        description: str | None = None,
        aliases: Iterable[str] | None = None,
        require: Iterable[str] | None = None,
        must_beat: str | None = None,
        notebook: str | None = None,
        promote: str | None = None,
        schedule: str | None = None,
    ) -> dict[str, Any]:
        """Publish run ``run_id`` (or ``latest``) as a new version of model ``name``.

        Every option left None comes from the run's notebook's saved publish settings
        (``metadata.mlops.publish``), else its default (the name: made from the notebook's
        file name; no aliases, no gates). ``promote``: ALIAS moves to the new version only
        if it beats ``must_beat`` (which is then no gate); ``schedule``: who publishes, for
        the model's history."""
        from .registry.publish_defaults import fill_options
        from .registry.publishing import publish_run
        from .registry.runs import resolve_run

        target = self
        if notebook:
            target = self.for_notebook(self.notebook_path(notebook))  # type: ignore[attr-defined]
        options = {"name": name, "description": description, "must_beat": must_beat,
                   "aliases": None if aliases is None else list(aliases),
                   "require": None if require is None else list(require)}  # fmt: skip
        if None in options.values():  # settings from the run's notebook, as it is now
            record = resolve_run(target.store, run_id, notebook)
            run_id, options = str(record["id"]), fill_options(record.get("notebook"), options)
        return publish_run(
            target.store, target.registry_uri, run_id, options["name"],
            description=options["description"], aliases=options["aliases"] or (),
            require=options["require"] or (), must_beat=options["must_beat"], notebook=notebook,
            promote=promote or None, schedule=schedule,
        )  # fmt: skip

    def publish_options(self, notebook: str, **given: Any) -> dict[str, Any]:
        """Publish options for runs of ``notebook``: ``given`` (None = not given) completed
        from its saved publish settings and checked (``run --publish``: before it runs)."""
        from .registry.gates import parse_must_beat, parse_require
        from .registry.names import default_model_name, validate_names
        from .registry.publish_defaults import KEYS, fill_options

        path = str(self.notebook_path(notebook))  # type: ignore[attr-defined]
        options = fill_options(path, {k: given.get(k) for k in KEYS})
        options["name"] = options["name"] or default_model_name(path)
        options["aliases"] = validate_names(options["name"], options["aliases"] or ())
        options["require"] = list(options["require"] or ())
        for spec in options["require"]:
            parse_require(spec)
        parse_must_beat(options["must_beat"])
        if given.get("promote"):
            options["promote"] = validate_names(options["name"], [given["promote"]])[0]
        return options

    def models(self, name: str | None = None) -> list[dict[str, Any]] | dict[str, Any]:
        """All registered models (list) or one (dict), versions newest first."""
        from .registry import fastread

        db_file = fastread.sqlite_file(self.registry_uri)
        if name is None and db_file is not None and not db_file.exists():
            return []  # nothing published yet; the listing creates nothing
        if name is None:
            found = self._fast(fastread.list_models)
        else:
            self._registry_client_check(name)
            found = self._fast(lambda db: fastread.describe_model(db, name) or self._no_model(name))
            if isinstance(found, NotFound):
                raise found
        if found is not _SLOW:
            return found
        from .registry.catalog import list_models

        return list_models(self._registry_client(name), name)

    def model(self, name: str) -> dict[str, Any]:
        """Model ``name`` as :meth:`models` describes it, each version with its ``card``
        (the model card, Markdown)."""
        from .registry import fastread

        found = self.models(name)
        assert isinstance(found, dict)
        cards = self._fast(lambda db: fastread.version_cards(db, name))
        if cards is _SLOW:
            from .registry.catalog import version_cards

            cards = version_cards(self._registry_client(name), name)
        for version in found["versions"]:
            version["card"] = cards.get(version["version"], "")
        return found

    def _registry_client_check(self, name: str | None) -> None:
        from .registry.fastread import require_registry

        require_registry(self.registry_uri, self.store, name)

    def set_alias(self, name: str, alias: str, version: int | str) -> dict[str, Any]:
        """Point ``alias`` of ``name`` at ``version``; returns the history event."""
        from .registry import fastwrite
        from .registry.catalog import set_alias
        from .registry.names import validate_names

        validate_names(name, [alias])
        self._registry_client_check(name)
        done = self._fast_write(lambda uri: fastwrite.set_alias(uri, name, alias, version))
        if done is not _SLOW:
            return done
        self._fast(lambda db: self._check_version(db, name, version))  # fail before MLflow loads
        return set_alias(self._registry_client(name), self.registry_uri, name, alias, version)

    def _fast_write(self, write: Callable[[str], Any]) -> Any:
        """``write(uri)`` on the embedded registry without MLflow (:mod:`.registry.fastwrite`),
        or ``_SLOW`` when it cannot (server URI, unknown schema revision)."""
        from .registry.fastread import Unavailable

        try:
            return write(self.registry_uri)
        except Unavailable:
            return _SLOW

    def _check_version(self, db: Any, name: str, version: int | str) -> None:
        from .registry import fastread

        if not fastread.model_exists(db, name):
            raise self._no_model(name)
        if str(version).isdigit() and not fastread.version_exists(db, name, int(version)):
            raise NotFound(f"model {name!r} has no version {version}")

    def delete_alias(self, name: str, alias: str) -> dict[str, Any]:
        """Remove ``alias`` from ``name``; returns the history event."""
        from .registry import fastwrite
        from .registry.catalog import delete_alias

        self._registry_client_check(name)
        done = self._fast_write(lambda uri: fastwrite.delete_alias(uri, name, alias))
        if done is not _SLOW:
            return done
        return delete_alias(self._registry_client(name), self.registry_uri, name, alias)

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every publish and alias move of ``name``, oldest first."""
        from .registry import fastread

        self._registry_client_check(name)

        def read(db: Any) -> Any:
            if not fastread.model_exists(db, name):
                return self._no_model(name)
            return fastread.history_events(db, name)

        found = self._fast(read)
        if isinstance(found, NotFound):
            raise found
        if found is not _SLOW:
            return found
        from .registry.catalog import history

        return history(self._registry_client(name), name)

    def serving(self, ref: str, allow_pickle: bool = False) -> Any:
        """The checked version ``ref`` (``NAME``, ``NAME@ALIAS``, ``NAME/VERSION``) to serve
        (:class:`~jupyter_mlops.registry.serving.Served`): it exists in this registry and
        the registry vouches for its model file."""
        from .registry.serving import prepare

        return prepare(ref, self.store, self.registry_uri, allow_pickle=allow_pickle)
