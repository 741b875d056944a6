"""Run operations of :class:`~jupyter_mlops.service.MlopsService` (run, list, show)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import NotFound


class RunOperations:
    """Mixin: uses ``self.store`` (Path) and ``self.notebook_path(path)``."""

    store: Path
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

    def runs(self, notebook: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Runs in the store, newest first (optionally of one notebook)."""
        from .runner.store import Store

        nb = self.notebook_path(notebook) if notebook else None
        root = self.for_notebook(nb).store
        if not (root / "runs.db").is_file():
            return []
        with Store.open(root) as store:
            return store.list_runs(str(nb) if nb else None, limit)

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
