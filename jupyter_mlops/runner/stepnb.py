"""Generated step notebooks: what papermill executes for one step.

A step notebook holds, in order: a prelude (``exit()`` then fails the step) that starts
recording the files the step reads (:mod:`jupyter_mlops.kernel_reads`; the saving cell
collects them into the manifest), a ``parameters`` cell with the defaults of the
parameters the step reads and an ``injected-parameters`` cell with the run's values
(papermill's layout, written here as pure literals: see :mod:`.literals`), the setup cells
(they may read parameters), the loading of the step's inputs, the step's own cells (tags and
sources untouched), and a cell saving its outputs, metrics and example. Cell metadata
``mlops.source_cell`` maps each cell back to the user's notebook (``None`` for generated
cells, which ``mlops.generated`` names: ``prelude``, ``reads``, ``parameters``,
``injected-parameters``, ``secrets``, ``inputs``, ``outputs``). Generated cells depend on no
name a user can rebind (not even ``globals``).

Each cell costs a round trip to the kernel (≈ 7 ms with ipykernel 7), so generated code
that runs back to back shares one cell: the prelude and the reads always, the secrets and
the inputs when no parameters or setup cells come between them. ``mlops.parts`` lists what a
merged cell does and ``mlops.generated`` names its last part; a failure is attributed to the
part whose call the traceback points at (:func:`failed_part`). Generated calls take their
arguments as one JSON document in a string literal (:func:`json_literal`): IPython tokenizes
a cell's Python source before running it, ≈ 1 ms for a dozen Python literals.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from ..compiler.pipeline import Pipeline, Step
from ..jsonsafe import json_safe
from .literals import assignments


@dataclass
class StepPlan:
    """Everything needed to execute one step once (inputs already resolved)."""

    step: Step
    parameters: dict[str, Any]  # values of the parameters the step reads
    inputs: dict[str, str]  # variable -> artifact path to load (not resident in the kernel)
    outputs: list[str]
    consumers: dict[str, list[str]]
    metrics: list[str]
    example: str | None
    environment: bool
    artifacts: str
    manifest: str
    watch: tuple[str, list[str], list[str]] | None = None  # kernel_reads.start arguments
    secrets: str | None = None  # private file with the secret parameters' values


def _code_cell(
    source: str, tags: list[str], source_cell: int | None, generated: str | None = None
) -> dict[str, Any]:
    """A code cell as nbformat's ``new_code_cell`` makes it, without its schema validation
    (a few ms per cell; these cells are ours)."""
    mlops: dict[str, Any] = {"source_cell": source_cell}
    metadata: dict[str, Any] = {"tags": tags} if tags else {}
    metadata["mlops"] = mlops
    if generated:
        mlops["generated"] = generated
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": os.urandom(4).hex(),  # like nbformat's random_cell_id
        "metadata": metadata,
        "outputs": [],
        "source": source,
    }


def _tags(pipeline: Pipeline, index: int) -> list[str]:
    return list(pipeline.nb["cells"][index].get("metadata", {}).get("tags", []))


def _default(spec: dict[str, Any]) -> Any:
    return "<secret>" if spec.get("secret") else spec["default"]


#: generated cells that may share one cell with their neighbours, and the call each makes
MERGEABLE = {
    "prelude": "_mlops_begin_step(",
    "reads": "_mlops_watch_reads(",
    "secrets": "_mlops_read_secrets(",
    "inputs": "_mlops_load_inputs(",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _merged(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``cells`` with each run of adjacent :data:`MERGEABLE` generated cells made one."""
    out: list[dict[str, Any]] = []
    for cell in cells:
        role = cell["metadata"]["mlops"].get("generated")
        last = out[-1]["metadata"]["mlops"] if out else {}
        if role in MERGEABLE and last.get("generated") in MERGEABLE:
            prev = out[-1]
            prev["source"] += "\n" + cell["source"]
            prev["metadata"]["tags"] += cell["metadata"]["tags"]
            last.setdefault("parts", [last["generated"]]).append(role)
            last["generated"] = role
            continue
        out.append(cell)
    return out


def failed_part(cell: dict[str, Any]) -> str | None:
    """Which part of a generated cell failed: for a merged cell, the part whose call is on
    the line the traceback marks (``---->``) in the cell's error output; else its role."""
    mlops = cell.get("metadata", {}).get("mlops", {})
    parts = mlops.get("parts")
    if not parts:
        return mlops.get("generated")
    for output in cell.get("outputs", []):
        for line in output.get("traceback", []) if output.get("output_type") == "error" else []:
            for marked in _ANSI.sub("", line).splitlines():
                if "---->" not in marked:
                    continue
                for part in parts:
                    if MERGEABLE[part] in marked:
                        return part
    return mlops.get("generated")


def build_step_notebook(pipeline: Pipeline, plan: StepPlan) -> Any:
    """The notebook papermill runs for ``plan`` (a ``NotebookNode``, nbformat 4.5)."""
    import nbformat

    metadata = pipeline.nb.get("metadata", {})
    nb: dict[str, Any] = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    for key in ("kernelspec", "language_info"):
        if key in metadata:
            nb["metadata"][key] = copy.deepcopy(dict(metadata[key]))
    nb["metadata"]["mlops"] = {"step": plan.step.name, "notebook": pipeline.notebook}
    cells = nb["cells"]
    cells.append(
        _code_cell(
            f"{_import('begin_step', '_mlops_begin_step')}\n_mlops_begin_step()",
            ["mlops-prelude"],
            None,
            "prelude",
        )
    )
    if plan.watch is not None:  # record the files the step reads (setup cells included)
        base, exclude, declared = plan.watch
        spec = {"base": base, "exclude": exclude, "declared": declared}
        cells.append(
            _code_cell(
                f"{_import('cell_reads', '_mlops_watch_reads')}\n"
                f"_mlops_watch_reads({json_literal(spec)})",
                ["mlops-reads"],
                None,
                "reads",
            )
        )
    if plan.parameters:
        defaults = {name: _default(pipeline.parameters[name]) for name in plan.parameters}
        lines = ["# Parameters this step reads (defaults; the run's values are injected below)"]
        cells.append(
            _code_cell("\n".join(lines + assignments(defaults)), ["parameters"], None, "parameters")
        )
        lines = ["# Parameters"]
        cells.append(
            _code_cell(
                "\n".join(lines + assignments(plan.parameters)),
                ["injected-parameters"],
                None,
                "injected-parameters",
            )
        )
        nb["metadata"]["papermill"] = {"parameters": json_safe(plan.parameters)}
    if plan.secrets:  # the injected cell shows them as <secret>; the values come from a file
        cells.append(
            _code_cell(
                "from _jupyter_mlops_kernel.kernel_io import read_secrets as _mlops_read_secrets\n"
                f"_mlops_read_secrets(None, {plan.secrets!r})",
                ["mlops-secrets"],
                None,
                "secrets",
            )
        )
    for index, source in zip(pipeline.setup_cells, pipeline.setup_sources, strict=False):
        cells.append(_code_cell(source, _tags(pipeline, index), index))
    # always (also with no inputs): it clears what earlier steps left in a shared kernel
    spec = {"inputs": plan.inputs, "keep": list(plan.parameters)}
    cells.append(
        _code_cell(
            f"{_import('cell_inputs', '_mlops_load_inputs')}\n"
            f"_mlops_load_inputs({json_literal(spec)})",
            ["mlops-inputs"],
            None,
            "inputs",
        )
    )
    for index, source in zip(plan.step.cells, plan.step.sources, strict=False):
        cells.append(_code_cell(source, _tags(pipeline, index), index))
    spec = {
        "step": plan.step.name,
        "outputs": plan.outputs,
        "consumers": plan.consumers,
        "metrics": plan.metrics,
        "example": plan.example,
        "environment": plan.environment,
        "artifacts": plan.artifacts,
        "manifest": plan.manifest,
    }
    cells.append(
        _code_cell(
            f"{_import('cell_outputs', '_mlops_save_outputs')}\n"
            f"_mlops_save_outputs({json_literal(spec, lines=True)})",
            ["mlops-outputs"],
            None,
            "outputs",
        )
    )
    nb["cells"] = _merged(cells)
    return nbformat.from_dict(nb)


def _import(name: str, alias: str) -> str:
    return f"from _jupyter_mlops_kernel.kernel_io import {name} as {alias}"


def json_literal(value: dict[str, Any], lines: bool = False) -> str:
    """``value`` as JSON in a Python string literal: a raw triple-quoted one that shows the
    document as it is (with ``lines``, one key per line), else (it holds three quotes in a
    row) an escaped one. IPython tokenizes either as a single token."""
    # json.dumps writes ASCII only (other characters as \u escapes)
    if lines:
        items = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
        text = "{\n" + items + "\n}"
    else:
        text = json.dumps(value)
    if "'''" not in text:
        return f"r'''{text}'''"
    return repr(text)
