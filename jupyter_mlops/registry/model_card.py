"""The model card: a Markdown document with a YAML header, stored as the version's
description and as ``MODEL_CARD.md`` next to the model's files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .requirements import canonical

KEY_PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "skops", "cloudpickle",
                "xgboost", "lightgbm", "torch", "tensorflow", "statsmodels")  # fmt: skip


def first_markdown_cell(notebook: str | None) -> str | None:
    """The text of the notebook's first non-empty markdown cell."""
    if not notebook or not Path(notebook).is_file():
        return None
    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else str(source)
            if text.strip():
                return text.strip()
    return None


def key_packages(packages: dict[str, str] | None, requirements: list[str]) -> dict[str, str]:
    """Versions of well-known ML libraries and of everything the model requires."""
    wanted = {canonical(p) for p in KEY_PACKAGES}
    wanted |= {canonical(r.split("==")[0]) for r in requirements}
    return {n: v for n, v in sorted((packages or {}).items()) if canonical(n) in wanted}


def build_card(header: dict[str, Any], description: str | None, record: dict[str, Any]) -> str:
    """Markdown with a YAML front matter ``header`` and a human-readable body."""
    import yaml

    title = f"{header['name']} — version {header['version']}"
    about = description or first_markdown_cell(record.get("notebook")) or "_No description._"
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=100).rstrip(),
        "---",
        "",
        f"# {title}",
        "",
        "## Description",
        "",
        about,
        "",
        "## Metrics",
        "",
    ]
    metrics = header.get("metrics") or {}
    if metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:g} |" if isinstance(v, (int, float)) else f"| {k} | {v} |"
                  for k, v in metrics.items()]  # fmt: skip
    else:
        lines.append("_None recorded._")
    check = header.get("deployability") or {}
    status = "passed" if check.get("ok") else "failed"
    lines += [
        "",
        "## Deployability",
        "",
        f"Loaded in a fresh Python process: {status}"
        + (
            f" (the kernel's Python {check['python']}, `{check['executable']}`)"
            if check.get("executable")
            else ""
        )
        + (
            f"; predicted {check.get('rows_out')} rows for {check.get('rows_in')} example rows."
            if check.get("predicted")
            else "."
        ),  # fmt: skip
        "",
        "## Provenance",
        "",
        f"- notebook: `{header['source']['notebook']}` (sha256 `{header['source']['sha256']}`)",
        f"- pipeline run: `{header['run_id']}`; steps: {', '.join(header.get('steps') or [])}",
    ]
    git = header.get("git")
    if git:
        lines.append(f"- git commit `{git['commit']}`" + (" (dirty)" if git["dirty"] else ""))
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "import jupyter_mlops",
        f'model = jupyter_mlops.load_model("{header["name"]}", version={header["version"]})',
        "```",
        "",
    ]
    return "\n".join(lines)
