"""Propose cell tags for an untagged (or partly tagged) notebook, from its headings.

``propose_split(notebook, by="auto") -> Proposal``: a step per section (H2 headings by
default, H1 when there are no H2s), named from the heading; cells that only import or define
functions/classes become ``setup``; cells that only display and define nothing used later
``skip``; a section that binds nothing at all (checks, prints, file writes) is merged into
the section before it. Tags already on a cell are kept. The proposal is compiled with the
proposed tags, so it is a pipeline the compiler accepts. Pure: no kernels, no writes.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from .compile import compile_notebook
from .diagnostics import CompileError
from .facts import CellFacts, analyse_cell, display_only, plot_names
from .notebook_io import Cell, kernel_language, load_notebook, notebook_name, read_cells
from .parameters import parse_parameters
from .pipeline import Pipeline
from .tags import PREFIXES, ROLE_TAGS, STEP_NAME, parse_tags

BY_CHOICES = ("auto", "h2", "h1")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_STOPWORDS = frozenset(
    {*("a", "an", "the", "and", "or", "of", "to", "in", "into", "on", "for", "with", "by"),
     *("from", "our", "its", "their", "your", "my", "own", "at", "as")}
)  # fmt: skip
_PARAMETER_HEADINGS = {"parameters", "parameter", "params", "config", "configuration", "settings"}


@dataclass
class ProposedStep:
    """A step of the proposal: its name, the heading it came from, its cells (0-based)."""

    name: str
    heading: str | None
    cells: list[int] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "heading": self.heading, "cells": list(self.cells),
                "depends_on": list(self.depends_on)}  # fmt: skip


@dataclass
class Proposal:
    """Proposed tags of every cell, the steps, and the pipeline they compile to."""

    by: str
    tags: list[list[str]]  # the full tag list of every cell, in order
    steps: list[ProposedStep]
    pipeline: Pipeline
    warnings: list[dict[str, Any]]
    message: str
    changed: list[int]  # cells whose tags the proposal changes

    def to_dict(self) -> dict[str, Any]:
        """The REST/JSON form (see the V contract)."""
        return {
            "by": self.by,
            "cells": [{"index": i, "tags": list(t)} for i, t in enumerate(self.tags)],
            "steps": [s.to_dict() for s in self.steps],
            "pipeline": self.pipeline.to_dict(),
            "warnings": list(self.warnings),
            "message": self.message,
        }


def headings(cell: Cell) -> list[tuple[int, str]]:
    """``(level, text)`` of the ATX headings of a markdown cell (not inside code fences)."""
    found, fenced = [], False
    for line in cell.source.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced or line.startswith("    ") else _HEADING.match(line)
        if match and match.group(2).strip():
            found.append((len(match.group(1)), _plain(match.group(2))))
    return found


def _plain(text: str) -> str:
    """Heading text without markdown emphasis, code marks or links."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]", "", text).strip()


def slugify(text: str, taken: set[str]) -> str:
    """A valid step name (``^[a-z][a-z0-9_-]{0,62}$``) from a heading, unique in ``taken``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = re.sub(r"^[0-9-]+", "", slug)  # "1. Load data" -> "load-data"
    words = [w for w in slug.split("-") if w]
    words = [w for w in words if w not in _STOPWORDS] or words  # "Load the data" -> load-data
    slug = "-".join(words[:4])[:40].strip("-") or "step"
    name, n = slug, 2
    while name in taken or not STEP_NAME.match(name):
        name = f"{slug}-{n}"
        n += 1
    taken.add(name)
    return name


def _has_our_tags(tags: list[str]) -> bool:
    return any(t in ROLE_TAGS or (":" in t and t.partition(":")[0] in PREFIXES) for t in tags)


def _choose_level(cells: list[Cell], by: str, name: str) -> int:
    levels = {level for c in cells if c.cell_type == "markdown" for level, _ in headings(c)}
    if by not in BY_CHOICES:
        raise InvalidInput(f"--by must be one of {', '.join(BY_CHOICES)}, got {by!r}")
    if not levels & {1, 2}:
        raise InvalidInput(
            f"{name} has no headings: add '## Section' markdown cells or tag cells step:NAME"
        )
    if by == "h2" and 2 not in levels:
        raise InvalidInput(f"{name} has no '## ' (H2) headings: use --by h1 or --by auto")
    if by == "h1" and 1 not in levels:
        raise InvalidInput(f"{name} has no '# ' (H1) headings: use --by h2 or --by auto")
    return 1 if by == "h1" or (by == "auto" and 2 not in levels) else 2


@dataclass
class _Section:
    heading: str | None
    cells: list[int] = field(default_factory=list)  # code cells, in order
    title: bool = True  # before any heading, or under a coarser one (the notebook's title)


def _sections(cells: list[Cell], level: int) -> list[_Section]:
    sections = [_Section(None)]
    for cell in cells:
        if cell.cell_type == "markdown":
            found = [(lvl, text) for lvl, text in headings(cell) if lvl <= level]
            if found:
                sections.append(_Section(found[0][1], title=found[0][0] < level))
        elif cell.cell_type == "code":
            sections[-1].cells.append(cell.index)
    return sections


def _is_parameters(facts: CellFacts) -> bool:
    if facts.tree is None or not facts.tree.body:
        return False
    if not all(isinstance(s, ast.Assign | ast.AnnAssign) for s in facts.tree.body):
        return False
    params, errors = parse_parameters(facts.tree)
    return bool(params) and not errors


def propose_split(
    source: str | os.PathLike | Mapping[str, Any], by: str = "auto", path: str | None = None
) -> Proposal:
    """Propose tags for the notebook at ``source`` (a path or a notebook dict)."""
    nb, loaded_from = load_notebook(source)
    path = loaded_from or path
    name = notebook_name(path)
    cells = read_cells(nb, name)
    language = kernel_language(nb)
    if language != "python":
        raise InvalidInput(
            f"{name}: this is a {language} notebook; jupyter-mlops splits Python notebooks only"
        )
    level = _choose_level(cells, by, name)
    sections = _sections(cells, level)
    code = {c.index: c for c in cells if c.cell_type == "code"}
    facts = {i: analyse_cell(i, c.source) for i, c in code.items()}
    fixed = {i for i, c in code.items() if _has_our_tags(c.tags)}
    demoted: set[int] = set()  # proposed setup cells that the compiler refused as setup
    for _attempt in range(len(code) + 1):
        roles, step_of, warnings = _assign(cells, sections, facts, fixed, demoted)
        tags = _tags(cells, roles, step_of, fixed)
        proposed = _with_tags(nb, tags)
        try:
            pipeline = compile_notebook(proposed, path=path)
        except CompileError as exc:
            bad = {
                item["cell"]
                for item in exc.items
                if item["cell"] in roles
                and roles[item["cell"]] == "setup"
                and item["cell"] not in demoted
            }
            if not bad:
                raise CompileError(
                    *(f"the proposed steps do not compile: {m}" for m in exc.messages),
                    items=exc.items, warning_items=exc.warning_items,
                ) from None  # fmt: skip
            demoted |= bad
            continue
        break
    else:  # pragma: no cover - every attempt demotes at least one cell
        raise InvalidInput(f"{name}: no split compiles")
    headings_of = {s: h for s, h in step_of.values()}
    steps = [
        ProposedStep(s.name, headings_of.get(s.name), list(s.cells), list(s.upstream))
        for s in pipeline.steps
    ]
    warnings += _trivial(pipeline, facts, path)
    warnings += [
        {"cell": w["cell"], "step": w["step"], "variable": w["variable"], "message": w["message"]}
        for w in pipeline.warning_items
    ]
    count = sum(1 for s in sections if s.heading is not None)
    kind = f"H{level}"
    message = (
        f"{len(steps)} step{'s' if len(steps) != 1 else ''} from {count} {kind} "
        f"section{'s' if count != 1 else ''}"
    )
    original = [list(c.tags) for c in cells]
    changed = [i for i, (a, b) in enumerate(zip(original, tags, strict=True)) if a != b]
    return Proposal(f"h{level}", tags, steps, pipeline, warnings, message, changed)


def _assign(
    cells: list[Cell],
    sections: list[_Section],
    facts: dict[int, CellFacts],
    fixed: set[int],
    demoted: set[int],
) -> tuple[dict[int, str], dict[int, tuple[str, str | None]], list[dict[str, Any]]]:
    """Roles of the untagged code cells (``setup``, ``parameters``, ``skip``, ``step``,
    ``blank``) and each step cell's (step name, heading)."""
    warnings: list[dict[str, Any]] = []
    code = {c.index: c for c in cells if c.cell_type == "code"}
    roles: dict[int, str] = {}
    has_parameters = any(parse_tags(code[i].tags).role == "parameters" for i in fixed)
    first = True  # no code but setup cells so far
    for section in sections:
        slug = re.sub(r"[^a-z]+", "", (section.heading or "").lower())
        for i in section.cells:
            if i in fixed:
                continue
            f = facts[i]
            if f.blank:
                roles[i] = "blank"
            elif f.setup_only and f.tree is not None and i not in demoted:
                roles[i] = "setup"
            elif (
                not has_parameters
                and (slug in _PARAMETER_HEADINGS or (first and section.title))
                and (_is_parameters(f))
            ):  # literal assignments under "Parameters", or first under the title
                roles[i] = "parameters"
                has_parameters = True
            else:
                roles[i] = "step"
            first = first and roles[i] in ("setup", "blank")
    # display-only cells that define nothing a later cell uses: skip (backwards, so a plot
    # cell that only a later skipped cell reads is skipped too)
    plots = plot_names(facts)
    later: set[str] = set()
    for i in sorted(code, reverse=True):
        f = facts[i]
        tags = parse_tags(code[i].tags) if i in fixed else None
        if tags is not None and tags.role == "skip":
            continue
        if tags is not None:
            later |= f.reads | _tag_reads(tags)
            if tags.role == "metrics" and f.tree is not None:
                later |= {n.id for n in ast.walk(f.tree) if isinstance(n, ast.Name)}
            continue
        if roles[i] == "step" and display_only(f, plots) and not (f.binds | f.mutates) & later:
            roles[i] = "skip"
            continue
        later |= f.reads
    # steps: one per section; fixed step tags name their section's other cells
    step_of: dict[int, tuple[str, str | None]] = {}
    taken = {t.step for i in fixed if (t := parse_tags(code[i].tags)).step is not None}
    groups: list[tuple[str, str | None, list[int], bool]] = []  # name, heading, cells, fixed
    for section in sections:
        members = [i for i in section.cells if roles.get(i) == "step" or i in fixed and
                   parse_tags(code[i].tags).role in (None, "step")]  # fmt: skip
        if not members:
            continue
        fixed_names = [parse_tags(code[i].tags).step for i in members if i in fixed]
        fixed_names = [n for n in fixed_names if n]
        if fixed_names:
            current = fixed_names[0]
            for i in members:
                if i in fixed and parse_tags(code[i].tags).step:
                    current = parse_tags(code[i].tags).step or current
                step_of[i] = (current, section.heading)
            for n in dict.fromkeys(fixed_names):
                groups.append((n, section.heading, [i for i in members if step_of[i][0] == n],
                               True))  # fmt: skip
            continue
        label = section.heading if section.heading is not None else "start"
        step = slugify(label, taken)
        for i in members:
            step_of[i] = (step, section.heading)
        groups.append((step, section.heading, members, False))
    _merge_empty(groups, facts, step_of, warnings)
    return roles, step_of, warnings


def _tag_reads(tags: Any) -> set[str]:
    names: set[str] = set()
    if tags.model:
        names.add(tags.model)
    if tags.example:
        names |= set(re.findall(r"[A-Za-z_]\w*", tags.example))
    return names


def _merge_empty(
    groups: list[tuple[str, str | None, list[int], bool]],
    facts: dict[int, CellFacts],
    step_of: dict[int, tuple[str, str | None]],
    warnings: list[dict[str, Any]],
) -> None:
    """A proposed section that binds nothing (only checks, prints, writes files) and
    changes nothing a later step reads joins the step before it (the first one: after)."""
    for k, (_name, heading, members, is_fixed) in enumerate(groups):
        if is_fixed or len(groups) < 2:
            continue
        assigns = set().union(*(facts[i].assigns for i in members))
        mutates = set().union(*(facts[i].mutates for i in members))
        later = set().union(*(facts[i].reads for _, _, m, _ in groups[k + 1 :] for i in m))
        if assigns or mutates & later:
            continue
        before = next((g for g in reversed(groups[:k]) if g[2]), None)
        after = next((g for g in groups[k + 1 :] if g[2] and not g[3]), None)
        candidates = [g for g in (after, before) if g is not None]
        if not candidates:
            continue
        # the neighbour that gains the fewest new dependencies (ties: the one after)
        needs = _producers(groups, k, facts)
        target = min(
            candidates, key=lambda g: len(needs - _producers(groups, groups.index(g), facts)
                                          - {g[0]})
        )  # fmt: skip
        for i in members:
            step_of[i] = (target[0], target[1])
        target[2].extend(members)
        target[2].sort()
        members.clear()
        warnings.append({
            "cell": None, "step": target[0], "variable": None,
            "message": f"section {heading!r} defines nothing later cells use: merged into "
                       f"step {target[0]!r}",
        })  # fmt: skip


def _producers(
    groups: list[tuple[str, str | None, list[int], bool]], k: int, facts: dict[int, CellFacts]
) -> set[str]:
    """The earlier groups whose names group ``k`` reads (nearest binder of each name)."""
    found = set()
    for name in set().union(*(facts[i].reads for i in groups[k][2])):
        for g in reversed(groups[:k]):
            if any(name in facts[i].binds or name in facts[i].mutates for i in g[2]):
                found.add(g[0])
                break
    return found


def _tags(
    cells: list[Cell],
    roles: dict[int, str],
    step_of: dict[int, tuple[str, str | None]],
    fixed: set[int],
) -> list[list[str]]:
    out = []
    for cell in cells:
        tags = list(cell.tags)
        if cell.cell_type == "code" and cell.index not in fixed:
            role = roles.get(cell.index)
            if role in ("setup", "parameters", "skip"):
                tags.append(role)
            elif role == "step" or role == "blank" and cell.index in step_of:
                tags.append(f"step:{step_of[cell.index][0]}")
        elif cell.cell_type == "code" and cell.index in step_of:
            t = parse_tags(cell.tags)
            if t.role is None:  # an untagged member of a user-tagged step: name it
                tags.append(f"step:{step_of[cell.index][0]}")
        out.append(tags)
    return out


def _with_tags(nb: Mapping[str, Any], tags: list[list[str]]) -> dict[str, Any]:
    """A copy of the notebook with every cell's ``metadata.tags`` set to ``tags``."""
    out = dict(nb)
    out["cells"] = []
    for raw, cell_tags in zip(nb["cells"], tags, strict=True):
        cell = dict(raw)
        meta = dict(cell.get("metadata") or {})
        if cell_tags:
            meta["tags"] = list(cell_tags)
        else:
            meta.pop("tags", None)
        cell["metadata"] = meta
        out["cells"].append(cell)
    return copy.copy(out)


def _trivial(pipeline: Pipeline, facts: dict[int, CellFacts], path: str | None) -> list[dict]:
    """Warnings about splits that buy nothing: one step, or one-statement steps."""
    found = []
    if len(pipeline.steps) == 1:
        found.append({
            "cell": None, "step": pipeline.steps[0].name, "variable": None,
            "message": "trivial split: one step (nothing runs in parallel or is cached "
                       "separately); add headings between the stages of the work",
        })  # fmt: skip
        return found
    for step in pipeline.steps:
        statements = sum(facts[i].statements for i in step.cells if i in facts)
        if statements <= 1:
            found.append({
                "cell": step.cells[0] if step.cells else None, "step": step.name,
                "variable": None,
                "message": f"trivial step {step.name!r}: one statement (a step costs a "
                           "kernel start with --isolate); consider merging its section "
                           "with a neighbour",
            })  # fmt: skip
    return found
