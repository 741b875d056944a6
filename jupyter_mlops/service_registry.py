"""Registry operations of :class:`~jupyter_mlops.service.MlopsService` (publish, models, aliases).

The heavy lifting lives in :mod:`jupyter_mlops.registry`; MLflow is imported on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


class RegistryOperations:
    """Mixin: every method uses ``self.store`` (Path) and ``self.registry_uri`` (str)."""

    store: Path
    registry_uri: str

    def _registry_client(self) -> Any:
        from .registry.client import open_client

        return open_client(self.registry_uri)

    def publish(
        self,
        run_id: str,
        name: str | None,
        description: str | None = None,
        aliases: Iterable[str] = (),
        require: Iterable[str] = (),
        must_beat: str | None = None,
        notebook: str | None = None,
    ) -> dict[str, Any]:
        """Publish run ``run_id`` (or ``latest``) as a new version of model ``name`` (None:
        a name made from the run's notebook file name)."""
        from .registry.publishing import publish_run

        return publish_run(
            self.store, self.registry_uri, run_id, name, description=description,
            aliases=aliases, require=require, must_beat=must_beat, notebook=notebook,
        )  # fmt: skip

    def models(self, name: str | None = None) -> list[dict[str, Any]] | dict[str, Any]:
        """All registered models (list) or one (dict), versions newest first."""
        from .registry.catalog import list_models

        return list_models(self._registry_client(), name)

    def set_alias(self, name: str, alias: str, version: int | str) -> dict[str, Any]:
        """Point ``alias`` of ``name`` at ``version``; returns the history event."""
        from .registry.catalog import set_alias
        from .registry.publishing import validate_names

        validate_names(name, [alias])
        return set_alias(self._registry_client(), self.registry_uri, name, alias, version)

    def delete_alias(self, name: str, alias: str) -> dict[str, Any]:
        """Remove ``alias`` from ``name``; returns the history event."""
        from .registry.catalog import delete_alias

        return delete_alias(self._registry_client(), self.registry_uri, name, alias)

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every publish and alias move of ``name``, oldest first."""
        from .registry.catalog import history

        return history(self._registry_client(), name)
