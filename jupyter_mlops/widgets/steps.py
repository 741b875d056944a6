"""The steps of a pipeline, their dependencies and their live state, as widget rows."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as w

#: the colours of the panel's states (JupyterLab's theme variables, with fallbacks for
#: front ends without them)
COLOURS = {
    "queued": "var(--jp-info-color1, #0288d1)",
    "running": "var(--jp-info-color1, #0288d1)",
    "succeeded": "var(--jp-success-color1, #388e3c)",
    "cached": "var(--jp-success-color1, #388e3c)",
    "failed": "var(--jp-error-color1, #d32f2f)",
    "interrupted": "var(--jp-error-color1, #d32f2f)",
    "cancelled": "var(--jp-warn-color1, #f57c00)",
    "skipped": "var(--jp-ui-font-color3, #9e9e9e)",
}
SYMBOLS = {"queued": "·", "running": "▶", "succeeded": "✔", "cached": "↺", "failed": "✘",
           "skipped": "–", "cancelled": "■", "interrupted": "✘"}  # fmt: skip


def dot(status: str) -> str:
    """A coloured status symbol (HTML; nothing before any run)."""
    if not status:
        return ""
    colour = COLOURS.get(status, "var(--jp-ui-font-color2, #616161)")
    return f'<span style="color:{colour};font-weight:bold">{SYMBOLS.get(status, "?")}</span>'


class StepRow:
    """One step: its name and dependencies, a ``status`` Label (``queued``, ``running``,
    ``cached``, ``succeeded``, ``failed``, ``skipped``, or empty before any run) and a
    ``detail`` HTML (duration, why it ran or was cached, the error of a failed step)."""

    def __init__(self, step: dict[str, Any]) -> None:
        self.name: str = step["name"]
        self.icon = w.HTML(dot(""), layout=w.Layout(width="1.5em"))
        deps = _dependencies(step)
        title = f"<b>{escape(self.name)}</b>"
        if deps:
            title += f' <span style="opacity:0.7">← {deps}</span>'
        self.title = w.HTML(title, layout=w.Layout(width="20em"))
        self.status = w.Label("", layout=w.Layout(width="6.5em"))
        self.status.add_class("mlops-step-status")
        self.detail = w.HTML("", layout=w.Layout(flex="1"))
        self.box = w.HBox([self.icon, self.title, self.status, self.detail])
        self.box.add_class("mlops-step")
        self.box.add_class(f"mlops-step-{_css_name(self.name)}")

    def show(self, status: str, detail: str = "") -> None:
        """Show state ``status`` with ``detail`` (HTML, already escaped)."""
        from .render import block

        self.icon.value = dot(status)
        self.detail.value = block(detail)
        self.status.value = status

    def close(self) -> None:
        for child in (self.icon, self.title, self.status, self.detail, self.box):
            child.close()


def _dependencies(step: dict[str, Any]) -> str:
    """``load (X, y), prepare`` — the steps this one runs after, with the variables each
    passes (HTML)."""
    passed: dict[str, list[str]] = {}
    for variable, producer in (step.get("inputs") or {}).items():
        passed.setdefault(producer, []).append(variable)
    parts = []
    for name in step.get("upstream") or []:
        names = sorted(passed.get(name, []))
        shown = escape(name) + (f" ({escape(', '.join(names))})" if names else "")
        parts.append(shown)
    return ", ".join(parts)


def _css_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def step_detail(info: dict[str, Any]) -> str:
    """The detail of a step from a step event or a run record's step (HTML)."""
    parts = []
    if info.get("duration_s") is not None:
        parts.append(f"{info['duration_s']:.2f} s")
    if info.get("reason"):
        parts.append(escape(str(info["reason"])))
    text = " · ".join(parts)
    error = info.get("error")
    if error:
        colour = COLOURS["failed"]
        line = error if isinstance(error, str) else _error_line(error)
        text += f'<div style="color:{colour};white-space:pre-wrap">{escape(line)}</div>'
        if isinstance(info.get("notebook"), str) and info["notebook"]:
            text += (f'<div style="opacity:0.7">executed notebook: '
                     f'<code>{escape(info["notebook"])}</code></div>')  # fmt: skip
    return text


def _error_line(error: dict[str, Any]) -> str:
    """``ename: evalue (cell N)``, or which of our generated cells failed."""
    from ..cli.progress import GENERATED
    from ..runner.events import error_line

    line = error_line(error) or ""
    if error.get("cell") is None and error.get("generated"):
        what = GENERATED.get(error["generated"], error["generated"])
        line += f" (in jupyter-mlops's generated cell that {what})"
    return line
