"""Publishing from the widget: the service's ``publish`` in a fresh Python process (as the
REST API does, :mod:`jupyter_mlops.server.isolated`), waited for on a thread.

MLflow and the model's libraries are thus never imported into the user's kernel (≈ 200 MB
and seconds holding its GIL), and the kernel stays free while the publish goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import MlopsError


class Publisher:
    """Publish run ``run_id`` of store ``store`` with the notebook's saved publish settings.

    ``on_done(result)`` gets ``{"name", "version", "uri", "aliases", "checks", ...}``;
    ``on_refused(messages, checks)`` a refusal (a gate, the deployability check, bad
    settings), ``checks`` as the REST API's 409 answer has them (may be empty)."""

    def __init__(
        self,
        store: Path,
        registry_uri: str | None,
        run_id: str,
        *,
        on_done: Callable[[dict[str, Any]], None],
        on_refused: Callable[[list[str], dict[str, Any]], None],
    ) -> None:
        self.settings = {"store": str(store), "registry_uri": registry_uri}
        self.run_id = run_id
        self.on_done, self.on_refused = on_done, on_refused
        self._thread = threading.Thread(target=self._main, name="mlops-widget-publish",
                                        daemon=True)  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        from ..server import isolated

        try:
            result = isolated.call(self.settings, "publish", self.run_id)
        except MlopsError as exc:
            self.on_refused(list(exc.messages), exc.details().get("checks") or {})
            return
        except Exception as exc:  # noqa: BLE001 - shown in the widget, the kernel lives on
            self.on_refused([f"the publish failed: {type(exc).__name__}: {exc}"], {})
            return
        self.on_done(result)
