"""The jupyter-server extension: configuration traits, the service and its executor."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from jupyter_server.extension.application import ExtensionApp
from traitlets import Int, Unicode

from ._version_info import __version__
from .service import MlopsService

T = TypeVar("T")


class MlopsExtension(ExtensionApp):
    """Serves ``/mlops/api/*`` for the JupyterLab panel and the widget."""

    name = "jupyter_mlops"
    version = __version__
    load_other_extensions = True

    store = Unicode(
        "",
        config=True,
        help="Store folder for runs and artifacts (default: $JUPYTER_MLOPS_STORE, else per "
        "notebook the nearest .mlops in its folder or above, else a new one at the top of the "
        "git work tree or in the server root).",
    )
    registry_uri = Unicode(
        "",
        config=True,
        help="MLflow registry URI (default: $JUPYTER_MLOPS_REGISTRY_URI, $MLFLOW_TRACKING_URI, "
        "or a SQLite registry inside the store).",
    )
    max_workers = Int(4, config=True, help="Threads for blocking store and registry calls.")

    service: MlopsService
    _executor: ThreadPoolExecutor

    def initialize_settings(self) -> None:
        root_dir = self.serverapp.root_dir if self.serverapp is not None else "."
        self.service = MlopsService.create(
            store=self.store or None,
            registry_uri=self.registry_uri or None,
            root_dir=root_dir,
            store_how="server setting MlopsExtension.store",
        )
        self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="mlops")
        location = self.service.location
        self.log.info(
            "jupyter_mlops %s: store %s (%s)", __version__, self.service.store,
            location.how if location else "",
        )  # fmt: skip
        for message in location.warnings if location else ():
            self.log.warning("jupyter_mlops: %s", message)
        self._executor.submit(self._reap_dead_runs)

    def _reap_dead_runs(self) -> None:
        """At start: runs whose process died are recorded as interrupted, their kernels
        stopped (in the executor: never on the event loop)."""
        try:
            dead = self.service.reap_dead_runs()
        except Exception as exc:  # noqa: BLE001 - e.g. a read-only store: reads still work
            self.log.warning("jupyter_mlops: could not check the store for dead runs: %s", exc)
            return
        if dead:
            self.log.info("jupyter_mlops: runs recorded as interrupted: %s", ", ".join(dead))

    def initialize_handlers(self) -> None:
        from .handlers import route_table

        self.handlers.extend(route_table())

    async def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking service call in the extension's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def stop_extension(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
