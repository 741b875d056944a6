"""The jupyter-server extension: configuration traits, the service and its executor."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, Unicode

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
    max_concurrent_runs = Int(
        2,
        config=True,
        help="Background runs (started from the panel/REST) executing at once; further ones "
        "wait as 'queued' in the store and start when one ends.",
    )
    jobs = Int(
        0,
        config=True,
        help="Steps a background run executes in parallel (kernels per run); 0: one per CPU.",
    )
    step_timeout = Float(
        0.0,
        config=True,
        help="Seconds a step of a background run may take before it is stopped and fails; "
        "0: no limit.",
    )
    executor = Unicode(
        "",
        config=True,
        help="Where the steps of background runs execute: 'local' (kernels on this machine) or "
        "'dask' (default: $JUPYTER_MLOPS_EXECUTOR, else local). 'local' with dask_scheduler "
        "and artifacts set: runs are local unless the run request (the panel) asks for Dask.",
    )
    dask_scheduler = Unicode(
        "",
        config=True,
        help="The Dask scheduler's address for executor 'dask', e.g. tcp://HOST:8786 "
        "(default: $JUPYTER_MLOPS_DASK_SCHEDULER).",
    )
    artifacts = Unicode(
        "",
        config=True,
        help="Artifact store shared with the Dask workers: s3://BUCKET/PREFIX or a folder every "
        "worker can reach (default: $JUPYTER_MLOPS_ARTIFACTS).",
    )
    event_interval = Float(
        0.1,
        config=True,
        help="Seconds between two looks at the store's event log (relayed to the server's "
        "event bus, /api/events/subscribe).",
    )

    schedule_interval = Float(
        1.0,
        config=True,
        help="Seconds between two looks at the schedules of the stores the server knows "
        "(`jupyter mlops schedule`); 0: the server fires no schedules.",
    )

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
        self.service.executor = self.executor_spec()
        self.service.cluster = self.cluster_spec()
        location = self.service.location
        self.log.info(
            "jupyter_mlops %s: store %s (%s)", __version__, self.service.store,
            location.how if location else "",
        )  # fmt: skip
        for message in location.warnings if location else ():
            self.log.warning("jupyter_mlops: %s", message)
        self._start_runs()

    def executor_spec(self) -> Any:
        """The executor the traits configure (None: ``$JUPYTER_MLOPS_EXECUTOR``'s, or local)."""
        if not (self.executor or self.dask_scheduler or self.artifacts):
            return None
        from .runner.executors import ExecutorSpec, resolve_executor

        if self.executor.strip().lower() == "local":  # a cluster set too is offered per run
            return ExecutorSpec()
        return resolve_executor(
            self.executor or None, self.dask_scheduler or None, self.artifacts or None
        )

    def cluster_spec(self) -> Any:
        """The Dask cluster the traits configure (a run request may ask for it even when the
        default executor is local); None when no scheduler is set."""
        if not self.dask_scheduler:
            return None
        from .runner.executors import resolve_executor

        return resolve_executor("dask", self.dask_scheduler, self.artifacts or None)

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

    def _start_runs(self) -> None:
        """The run manager and the event relay; at start, dead runs are reaped, running ones
        relayed and queued ones started (on the manager's thread, never on the loop)."""
        from tornado.ioloop import PeriodicCallback

        from .server.event_relay import EventRelay, register_schemas
        from .server.run_manager import RunManager

        runtime = getattr(self.serverapp, "runtime_dir", None) if self.serverapp else None
        self.runs = RunManager(
            self.service.store, max(1, self.max_concurrent_runs),
            registry_uri=self.registry_uri, log=self.log,
            state_file=Path(runtime) / "jupyter_mlops_stores.json" if runtime else None,
        )  # fmt: skip
        self.relay = EventRelay(self.runs, self.service.relative_path)
        if self.serverapp is not None and getattr(self.serverapp, "event_logger", None):
            register_schemas(self.serverapp.event_logger)
        self.runs.executor.submit(self._reap_dead_runs)
        self.runs.executor.submit(self.relay.watch_known)
        self._ticks = 0
        self._ticking = False
        self._problem = ""
        self._ticker = PeriodicCallback(self._tick, max(10, int(self.event_interval * 1000)))
        self._ticker.start()
        from .server.schedule_ticker import ScheduleTicker

        self.schedules = ScheduleTicker(self)
        self.schedules.start(self.schedule_interval)

    async def _tick(self) -> None:
        """Relay new events; every half second, let the manager start and reap runs."""
        if self._ticking:
            return
        self._ticking = True
        loop = asyncio.get_running_loop()
        try:
            events = await loop.run_in_executor(self.runs.executor, self.relay.poll)
            self.emit(events)
            self._ticks += 1
            if self._ticks * self.event_interval >= 0.5:
                self._ticks = 0
                await loop.run_in_executor(self.runs.executor, self.runs.pump)
        except Exception as exc:  # noqa: BLE001 - keep ticking; say why once per problem
            if str(exc) != self._problem:
                self.log.warning("jupyter_mlops: run manager: %s", exc)
            self._problem = str(exc)
        else:
            self._problem = ""
        finally:
            self._ticking = False

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Hand relayed events to the server's event bus."""
        logger = getattr(self.serverapp, "event_logger", None) if self.serverapp else None
        if logger is None:
            return
        for event in events:
            data = dict(event)
            logger.emit(schema_id=data.pop("schema_id"), data=data)

    async def run_manager(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a run-manager call on its thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.runs.executor, functools.partial(fn, *args, **kwargs)
        )

    def initialize_handlers(self) -> None:
        from .handlers import route_table

        self.handlers.extend(route_table())

    async def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking service call in the extension's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def stop_extension(self) -> None:
        ticker = getattr(self, "_ticker", None)
        if ticker is not None:
            ticker.stop()
        if getattr(self, "schedules", None) is not None:
            self.schedules.stop()
        runs = getattr(self, "runs", None)
        if runs is not None:  # run processes keep running: a restarted server finds them
            runs.executor.submit(runs.close)
            runs.executor.shutdown(wait=False)
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
