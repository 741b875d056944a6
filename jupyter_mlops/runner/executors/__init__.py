"""Executors: where a run's steps execute. ``local`` (the default: kernels on this machine,
:class:`~jupyter_mlops.runner.scheduler.Scheduler`) or ``dask`` (kernels on the workers of
a Dask cluster, :mod:`.dask`). The scheduler's DAG order, cache decisions, records and
failure spread are the same for both; an executor only changes how one step is executed.

Standard library only: nothing of Dask or fsspec is imported unless the Dask executor runs.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from ...errors import InvalidInput

EXECUTORS = ("local", "dask")
EXECUTOR_ENV = "JUPYTER_MLOPS_EXECUTOR"
SCHEDULER_ENV = "JUPYTER_MLOPS_DASK_SCHEDULER"
ARTIFACTS_ENV = "JUPYTER_MLOPS_ARTIFACTS"
RETRIES_ENV = "JUPYTER_MLOPS_RETRIES"


@dataclass(frozen=True)
class ExecutorSpec:
    """Which executor a run uses, and for ``dask`` the cluster and the shared store."""

    name: str = "local"
    scheduler: str | None = None  # tcp://HOST:PORT
    artifacts: str | None = None  # fsspec URL: s3://bucket/prefix or a shared folder
    retries: int = 1  # attempts after a worker was lost mid-step

    @property
    def local(self) -> bool:
        return self.name == "local"

    def recorded(self) -> dict[str, Any]:
        """The run's ``options.executor`` (no credentials)."""
        return {
            "name": self.name,
            "scheduler": self.scheduler,
            "artifacts": without_credentials(self.artifacts),
            "retries": self.retries,
        }

    def shown(self) -> dict[str, Any]:
        """What a surface may show (``GET /mlops/api/info``): :meth:`recorded`, with no
        ``user:password@`` and no query string in either address."""
        return {
            **self.recorded(),
            "scheduler": without_credentials(self.scheduler, query=False),
            "artifacts": without_credentials(self.artifacts, query=False),
        }

    @classmethod
    def from_recorded(cls, data: dict[str, Any] | None) -> ExecutorSpec:
        """The spec a queued run recorded (none recorded: the local executor)."""
        if not data or data.get("name", "local") == "local":
            return cls()
        return resolve_executor(
            data["name"], data.get("scheduler"), data.get("artifacts"), data.get("retries")
        )


def without_credentials(url: str | None, query: bool = True) -> str | None:
    """``url`` without ``user:password@`` (and without its query string unless ``query``)."""
    from urllib.parse import urlsplit, urlunsplit

    if not url or "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        (parts.scheme, netloc, parts.path, parts.query if query else "", parts.fragment)
    )


def resolve_executor(
    executor: str | None = None,
    scheduler: str | None = None,
    artifacts: str | None = None,
    retries: int | None = None,
) -> ExecutorSpec:
    """The executor from the options given, else ``$JUPYTER_MLOPS_EXECUTOR``,
    ``$JUPYTER_MLOPS_DASK_SCHEDULER``, ``$JUPYTER_MLOPS_ARTIFACTS``; checked (one-line
    :class:`InvalidInput` naming the option), nothing connected."""
    name = (executor or os.environ.get(EXECUTOR_ENV) or "local").strip().lower()
    if name not in EXECUTORS:
        raise InvalidInput(f"--executor {name}: unknown executor (choose one of: local, dask)")
    given = [f for f, v in (("--scheduler", scheduler), ("--artifacts", artifacts)) if v]
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    artifacts = artifacts or os.environ.get(ARTIFACTS_ENV) or None
    if retries is None:
        text = os.environ.get(RETRIES_ENV, "1")
        try:
            retries = int(text)
        except ValueError:
            raise InvalidInput(f"${RETRIES_ENV}={text!r} is not a whole number") from None
    if retries < 0:
        raise InvalidInput(f"--retries must be 0 or more, got {retries}")
    if name == "local":
        if given:  # values from the environment alone are simply not used
            raise InvalidInput(f"{' and '.join(given)} only apply with --executor dask")
        return ExecutorSpec()
    if not scheduler:
        raise InvalidInput(
            f"--executor dask needs the scheduler's address: --scheduler tcp://HOST:8786 "
            f"(or ${SCHEDULER_ENV})"
        )
    if "://" not in scheduler:
        scheduler = f"tcp://{scheduler}"
    if not artifacts:
        raise InvalidInput(
            "--executor dask needs a store every worker can reach: --artifacts "
            f"s3://BUCKET/PREFIX or a shared folder (or ${ARTIFACTS_ENV})"
        )
    if "://" not in artifacts:
        artifacts = os.path.abspath(os.path.expanduser(artifacts))
    _require("distributed", "dask", "--executor dask")
    _require("fsspec", "dask", "--artifacts")
    if artifacts.startswith(("s3://", "s3a://")):
        _require("s3fs", "s3", f"--artifacts {artifacts.split('/')[0]}//...")
    return ExecutorSpec("dask", scheduler, artifacts, retries)


def _require(module: str, extra: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise InvalidInput(
            f"{what} needs {module}, which is not installed: pip install 'jupyter-mlops[{extra}]'"
        )


def scheduler_class(spec: ExecutorSpec | None) -> type:
    """The scheduler class that executes a run with ``spec``."""
    if spec is None or spec.local:
        from ..scheduler import Scheduler

        return Scheduler
    from .dask import DaskScheduler

    return DaskScheduler
