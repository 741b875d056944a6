"""Run operations of :class:`~jupyter_mlops.service.MlopsService` (run, list, show)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InvalidInput, NotFound


class RunOperations:
    """Mixin: uses ``self.store`` (Path) and ``self.notebook_path(path)``."""

    store: Path
    registry_uri: str
    notebook_path: Callable[[str], Path]
    for_notebook: Callable[[Path | None], Any]

    def run(
        self,
        path: str,
        parameters: dict[str, Any] | None = None,
        *,
        parameter_texts: list[tuple[str, str]] | None = None,
        parameter_file: str | None = None,
        jobs: int | None = None,
        use_cache: bool = True,
        isolate: bool = False,
        step_timeout: float | None = None,
        report: str = "background",
        on_event: Callable[[str, str, dict[str, Any]], None] | None = None,
        refresh: list[str] | None = None,
    ) -> dict[str, Any]:
        """Run the notebook's pipeline to the end; return the run record."""
        from .runner import run_pipeline

        notebook = self.notebook_path(path)
        run = run_pipeline(
            notebook,
            parameters,
            parameter_texts=parameter_texts,
            parameter_file=parameter_file,
            store=self.for_notebook(notebook).store,
            jobs=jobs,
            use_cache=use_cache,
            isolate=isolate,
            step_timeout=step_timeout,
            report=report,
            on_event=on_event,
            refresh=refresh,
        )
        return run.to_dict()

    def runs(
        self,
        notebook: str | None = None,
        limit: int = 100,
        offset: int = 0,
        before: str | None = None,
    ) -> list[dict[str, Any]]:
        """Runs in the store, newest first (optionally of one notebook), one page at a time.

        Reads only: the store is opened read-only and nothing is created or written.
        """
        from .runner.store import Store

        nb = self.notebook_path(notebook) if notebook else None
        root = self.for_notebook(nb).store
        if not (root / "runs.db").is_file():
            return []
        try:
            store = Store.open_existing(root)
        except NotFound:  # a store whose first run is creating it right now
            return []
        with store:
            return store.list_runs(str(nb) if nb else None, limit, offset=offset, before=before)

    def get_run(self, run_id: str, notebook: str | None = None) -> dict[str, Any]:
        """One run record, ``latest`` = the newest run (of ``notebook``); ``NotFound`` if there
        is none."""
        from .runner.store import Store

        nb = self.notebook_path(notebook) if notebook else None
        with Store.open_existing(self.for_notebook(nb).store) as store:
            if run_id != "latest":
                return store.get_run(run_id)
            record = store.latest_run(str(nb) if nb else None, status=None)
            if record is None:
                where = f" of {notebook}" if notebook else ""
                raise NotFound(f"no run{where} in store {store.root}")
            return record

    def reap_dead_runs(self) -> list[str]:
        """Record runs whose process died as interrupted and stop the kernels they left
        (called when the server starts; every run does it too). Creates no store."""
        from .runner.store import Store

        if not (self.store / "runs.db").is_file():
            return []
        with Store.open(self.store) as store:
            return store.reap_dead()

    def gc(
        self, keep: int | None = None, older_than: str | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """Delete runs and artifacts that no kept run, cache entry or published version
        needs (see :mod:`jupyter_mlops.runner.gc`); ``older_than`` like ``"30d"``."""
        from .registry.published import published_run_ids
        from .runner.gc import collect_garbage, parse_duration
        from .runner.store import Store

        if keep is not None and keep < 0:
            raise InvalidInput(f"--keep must be 0 or more, got {keep}")
        seconds = parse_duration(older_than) if older_than is not None else None
        if not (self.store / "runs.db").is_file():
            return {"runs": [], "artifacts": 0, "bytes": 0, "kept": 0, "dry_run": dry_run}
        opener = Store.open_existing if dry_run else Store.open
        with opener(self.store) as store:
            protected = store.published_runs() | published_run_ids(self.registry_uri)
            return collect_garbage(store, keep, seconds, dry_run, protected)
