"""HTML fragments of the widget (every value from a notebook, a run or the registry escaped)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from .steps import COLOURS, dot

_TABLE = 'style="border-collapse:collapse;margin:2px 0"'
_CELL = 'style="padding:1px 10px 1px 0;text-align:left"'


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return "—" if value is None else str(value)


def table(rows: list[list[str]], header: list[str] | None = None) -> str:
    """Rows of HTML cells (already escaped) as a small table."""
    head = "".join(f"<th {_CELL}>{h}</th>" for h in header or [])
    body = "".join("<tr>" + "".join(f"<td {_CELL}>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table {_TABLE}>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


def messages(errors: list[str], warnings: list[str] = ()) -> str:
    """Error and warning lines."""
    out = [f'<div style="color:{COLOURS["failed"]}">error: {escape(m)}</div>' for m in errors]
    out += [f'<div style="color:{COLOURS["cancelled"]}">warning: {escape(m)}</div>'
            for m in warnings]  # fmt: skip
    return block("".join(out))


def run_head(run_id: str | None, status: str) -> str:
    """``● run 20261127-…:`` (the status itself is a Label next to it)."""
    return f"{dot(status)} run <code>{escape(run_id)}</code>:" if run_id else ""


def run_tail(info: dict[str, Any]) -> str:
    """`` in 3.2 s`` and the run's error, from a run event or record."""
    text = ""
    if info.get("duration_s") is not None:
        text += f"&nbsp;in {info['duration_s']:.1f} s"
    if info.get("error"):
        text += f' <span style="color:{COLOURS["failed"]}">{escape(str(info["error"]))}</span>'
    return text


def block(html: str) -> str:
    """``html`` with normal line spacing (an HTML widget's lines are as tall as a control)."""
    return f'<div style="line-height:1.4">{html}</div>' if html else ""


def metrics(values: dict[str, Any]) -> str:
    if not values:
        return ""
    rows = [[escape(k), number(v)] for k, v in values.items()]
    return "<b>Metrics</b>" + table(rows)


def publish_settings(options: dict[str, Any]) -> str:
    """What Publish will do: the model name, aliases and gates (the notebook's saved publish
    settings over the defaults)."""
    parts = [f"as <b>{escape(options.get('name') or '')}</b>"]
    if options.get("aliases"):
        parts.append("aliases " + ", ".join(f"@{escape(a)}" for a in options["aliases"]))
    gates = [f"require {escape(r)}" for r in options.get("require") or []]
    if options.get("must_beat"):
        gates.append(f"must beat {escape(options['must_beat'])}")
    parts.append("gates: " + ("; ".join(gates) if gates else "none"))
    return block(f'<span style="opacity:0.8">Publish {" · ".join(parts)} '
                 "(the notebook's saved publish settings, <code>metadata.mlops.publish</code>)"
                 "</span>")  # fmt: skip


def published(result: dict[str, Any]) -> str:
    name, version = result.get("name", ""), result.get("version")
    aliases = result.get("aliases") or []
    ref = f"{name}@{aliases[0]}" if aliases else f"models:/{name}/{version}"
    text = (f'<div style="color:{COLOURS["succeeded"]}">✔ published <b>{escape(str(name))}'
            f"</b> version <b>{escape(str(version))}</b> ({escape(str(result.get('uri', '')))})"
            + (" " + " ".join(f"@{escape(a)}" for a in aliases) if aliases else "")
            + "</div>")  # fmt: skip
    text += f"<code>jupyter_mlops.load_model({escape(repr(ref))})</code>"
    return block(text + checks(result.get("checks") or {}))


def refused(lines: list[str], found: dict[str, Any]) -> str:
    colour = COLOURS["failed"]
    text = "".join(f'<div style="color:{colour}">✘ {escape(m)}</div>' for m in lines)
    return block(text + checks(found))


def checks(found: dict[str, Any]) -> str:
    """The gates evaluated and the deployability check, as a table."""
    rows = []
    for gate in found.get("gates") or []:
        value = number(gate.get("value"))
        if gate.get("incumbent") is not None:
            value += f" vs {number(gate['incumbent'])} (version {gate.get('incumbent_version')})"
        elif gate.get("note"):
            value += f" ({escape(str(gate['note']))})"
        rows.append([dot("succeeded" if gate.get("passed") else "failed"),
                     escape(str(gate.get("gate", ""))), value])  # fmt: skip
    deploy = found.get("deployability")
    if deploy:
        ok = bool(deploy.get("ok"))
        what = "loads and predicts" if ok else escape(str(deploy.get("error") or "failed"))
        if deploy.get("executable"):
            what += f" (<code>{escape(str(deploy['executable']))}</code>)"
        rows.append([dot("succeeded" if ok else "failed"), "deployability", what])
    return table(rows) if rows else ""
