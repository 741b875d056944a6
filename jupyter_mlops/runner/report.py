"""The HTML report of a run: a summary plus every step's executed cells, via nbconvert.

Run as ``python -m jupyter_mlops.runner.report STORE RUN_ID`` (the runner starts it
detached so a run does not wait for nbconvert).
"""

from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path
from typing import Any

from .store import Store

GENERATED_TAGS = {"mlops-prelude", "mlops-reads", "mlops-inputs", "mlops-outputs", "mlops-secrets"}


def _summary(record: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {name} | {s['status']} | {s['duration_s'] if s['duration_s'] is not None else ''} |"
        f" {html.escape(s['error']['ename'] + ': ' + s['error']['evalue']) if s['error'] else ''} |"
        for name, s in record["steps"].items()
    )
    params = "\n".join(f"| {k} | `{json.dumps(v)}` |" for k, v in record["parameters"].items())
    metrics = "\n".join(f"| {k} | {v} |" for k, v in record["metrics"].items())
    return (
        f"# Run {record['id']}: {record['status']}\n\n"
        f"Notebook `{record['notebook']}` (sha256 `{record['notebook_sha256']}`), "
        f"started {record['started_at']}, {record['duration_s']} s.\n\n"
        f"## Steps\n\n| step | status | seconds | error |\n|---|---|---|---|\n{rows}\n\n"
        f"## Parameters\n\n| name | value |\n|---|---|\n{params}\n\n"
        f"## Metrics\n\n| name | value |\n|---|---|\n{metrics}\n"
    )


def build_report_notebook(record: dict[str, Any]) -> Any:
    import nbformat

    report = nbformat.v4.new_notebook()
    report.cells.append(nbformat.v4.new_markdown_cell(_summary(record)))
    for name, step in record["steps"].items():
        report.cells.append(nbformat.v4.new_markdown_cell(f"## Step `{name}`: {step['status']}"))
        path = step.get("notebook")
        if not path or not os.path.exists(path):
            continue
        executed = nbformat.read(path, as_version=4)
        if not report.metadata.get("kernelspec") and executed.metadata.get("kernelspec"):
            report.metadata["kernelspec"] = executed.metadata["kernelspec"]
            report.metadata["language_info"] = executed.metadata.get("language_info", {})
        for cell in executed.cells:
            if GENERATED_TAGS & set(cell.metadata.get("tags", [])):
                continue
            report.cells.append(cell)
    return report


def write_report(store: str | os.PathLike[str], run_id: str) -> Path:
    """Render ``runs/<run_id>/report.html`` (atomically) and return its path."""
    from nbconvert import HTMLExporter

    with Store.open_existing(store) as db:
        record = db.get_run(run_id)
        target = db.run_dir(run_id) / "report.html"
    body, _ = HTMLExporter().from_notebook_node(build_report_notebook(record))
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, target)
    return target


if __name__ == "__main__":  # pragma: no cover - exercised through run_pipeline
    if "--nice" in sys.argv[3:]:  # lower our own priority (no preexec_fn in the parent)
        os.nice(10)
    write_report(sys.argv[1], sys.argv[2])
