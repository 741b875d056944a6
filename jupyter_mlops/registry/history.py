"""Audit trail of a registered model: every publish and alias move (MLflow issue #2169).

Stored in the registry itself, as registered-model tags ``mlops.history.<ns>.<rand>`` whose
value is one JSON event, so it is shared by everyone using the same registry (a local SQLite
file or a remote MLflow server) and is visible in the MLflow UI. Keys sort by time.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from .provenance import utcnow, who

PREFIX = "mlops.history."


def record_event(
    client: Any,
    name: str,
    event: str,
    *,
    alias: str | None = None,
    from_version: int | None = None,
    to_version: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Append one event (``publish``, ``alias-set``, ``alias-delete``) to ``name``'s history."""
    entry = {
        "at": utcnow(),
        "by": who(),
        "event": event,
        "alias": alias,
        "from_version": from_version,
        "to_version": to_version,
        **extra,
    }
    key = f"{PREFIX}{time.time_ns():020d}.{secrets.token_hex(3)}"
    client.set_registered_model_tag(name, key, json.dumps(entry, sort_keys=True))
    return entry


def read_history(tags: dict[str, str]) -> list[dict[str, Any]]:
    """Events from a registered model's tags, oldest first."""
    events = []
    for key in sorted(k for k in tags if k.startswith(PREFIX)):
        try:
            events.append(json.loads(tags[key]))
        except ValueError:
            continue
    return events
