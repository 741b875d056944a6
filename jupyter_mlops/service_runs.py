"""Run operations of :class:`~jupyter_mlops.service.MlopsService` (run, list, show)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


class RunOperations:
    """Mixin: uses ``self.store`` (Path) and ``self.notebook_path(path)``."""

    store: Path
    notebook_path: Callable[[str], Path]

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

        run = run_pipeline(
            self.notebook_path(path),
            parameters,
            parameter_texts=parameter_texts,
            parameter_file=parameter_file,
            store=self.store,
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

        nb = str(self.notebook_path(notebook)) if notebook else None
        if not (self.store / "runs.db").is_file():
            return []
        with Store.open(self.store) as store:
            return store.list_runs(nb, limit)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run record (``NotFound`` if there is none)."""
        from .runner.store import Store

        with Store.open_existing(self.store) as store:
            return store.get_run(run_id)
