"""Python API functions that go through the service facade: ``jupyter_mlops.publish``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def publish(
    run_id: str,
    name: str | None = None,
    description: str | None = None,
    aliases: Iterable[str] | None = None,
    require: Iterable[str] | None = None,
    must_beat: str | None = None,
    notebook: str | None = None,
    *,
    store: str | None = None,
    registry_uri: str | None = None,
    promote: str | None = None,
) -> dict[str, Any]:
    """Publish a run's model as a new registry version (see ``jupyter mlops publish``).

    ``run_id`` may be ``"latest"``; ``require`` items look like ``"accuracy>=0.9"``;
    ``must_beat`` like ``"champion:accuracy"`` or ``"champion:rmse:lower"``. Options left
    None come from the notebook's saved publish settings (``metadata.mlops.publish``). Returns
    ``{"name", "version", "uri", "aliases", "run_id", "checks", ...}``; with ``promote``
    (an alias), ``must_beat`` only decides whether that alias moves (``promoted``).
    """
    from .service import MlopsService

    service = MlopsService.create(store=store, registry_uri=registry_uri)
    return service.publish(
        run_id, name, description=description, aliases=aliases, require=require,
        must_beat=must_beat, notebook=notebook, promote=promote,
    )  # fmt: skip
