"""The compiled pipeline: :class:`Step`, :class:`Pipeline`, topological order."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    """One pipeline step: consecutive code cells run together in one kernel."""

    name: str
    cells: list[int] = field(default_factory=list)  # 0-based notebook cell indices
    upstream: list[str] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)  # variable -> producing step
    outputs: list[str] = field(default_factory=list)
    cache: bool = True
    params_read: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # original cell text, magics untouched
    prev: list[str] = field(default_factory=list)  # explicit ``prev:`` dependencies
    inplace: list[str] = field(
        default_factory=list
    )  # outputs that are received values changed in place
    cache_ttl: float | None = None  # seconds a cache entry stays usable (``cache:ttl=``)
    reads: list[str] = field(default_factory=list)  # ``reads:`` paths, notebook-relative
    defines: list[str] = field(default_factory=list)  # names the step's cells assign
    resources: dict[str, float] = field(default_factory=dict)  # ``resources:NAME=AMOUNT``

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form of a step."""
        return {
            "name": self.name,
            "cells": list(self.cells),
            "upstream": list(self.upstream),
            "inputs": dict(self.inputs),
            "outputs": list(self.outputs),
            "cache": self.cache,
            "inplace": list(self.inplace),
            "params_read": list(self.params_read),
            "defines": list(self.defines),
            **({"cache_ttl": self.cache_ttl} if self.cache_ttl else {}),
            **({"reads": list(self.reads)} if self.reads else {}),
            **({"resources": dict(self.resources)} if self.resources else {}),
        }


@dataclass
class Pipeline:
    """A notebook compiled into steps, parameters, metrics and model."""

    notebook: str | None
    kernel: str
    nb: Mapping[str, Any]
    steps: list[Step]
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    parameters_cell: int | None = None
    setup_cells: list[int] = field(default_factory=list)
    setup_sources: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    metric_steps: dict[str, str] = field(default_factory=dict)
    model: dict[str, str] | None = None
    example: dict[str, str] | None = None
    warnings: list[str] = field(default_factory=list)
    warning_items: list[dict[str, Any]] = field(default_factory=list)  # located, as data

    @property
    def path(self) -> str | None:
        """The notebook's path, when compiled from a file."""
        return self.notebook

    def step(self, name: str) -> Step:
        """The step called *name* (``KeyError`` if there is none), from an index made on
        first use (the scheduler asks for every pending step on every pass) and again if
        ``steps`` is replaced or grows (steps are not edited in place once compiled)."""
        shape = (id(self.steps), len(self.steps))
        index = self.__dict__.get("_index")
        if index is None or index[0] != shape:
            named: dict[str, Step] = {}
            for step in self.steps:
                named.setdefault(step.name, step)
            index = self.__dict__["_index"] = (shape, named)
        return index[1][name]

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (see the package docstring)."""
        return {
            "notebook": self.notebook,
            "kernel": self.kernel,
            "parameters": {k: dict(v) for k, v in self.parameters.items()},
            "steps": [s.to_dict() for s in self.steps],
            "metrics": list(self.metrics),
            "model": dict(self.model) if self.model else None,
            "example": dict(self.example) if self.example else None,
            "warnings": list(self.warnings),
        }


def topological_order(
    names: list[str], upstream: dict[str, list[str]]
) -> list[str] | list[list[str]]:
    """Kahn's algorithm, ties broken by position in *names*.

    Returns the ordered names, or ``[cycle]`` (a list holding one list of names
    forming a cycle, first name repeated at the end) when there is a cycle.
    """
    position = {n: i for i, n in enumerate(names)}
    pending = {n: len(set(upstream.get(n, []))) for n in names}
    children: dict[str, list[str]] = {n: [] for n in names}
    for n in names:
        for u in set(upstream.get(n, [])):
            children[u].append(n)
    ready = [position[n] for n in names if pending[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        n = names[heapq.heappop(ready)]
        order.append(n)
        for c in children[n]:
            pending[c] -= 1
            if pending[c] == 0:
                heapq.heappush(ready, position[c])
    if len(order) == len(names):
        return order
    return [_find_cycle([n for n in names if pending[n] > 0], upstream)]


def _find_cycle(remaining: list[str], upstream: dict[str, list[str]]) -> list[str]:
    left = set(remaining)
    node = remaining[0]
    path: list[str] = []
    seen: dict[str, int] = {}
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(u for u in sorted(upstream[node]) if u in left)
    cycle = path[seen[node] :]
    cycle.reverse()  # upstream links point backwards; show the run order
    start = min(range(len(cycle)), key=lambda i: remaining.index(cycle[i]))
    cycle = cycle[start:] + cycle[:start]  # begin at the first step in notebook order
    return [*cycle, cycle[0]]
