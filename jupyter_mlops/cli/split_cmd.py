"""``jupyter mlops split NOTEBOOK [--by auto|h2|h1] [--write] [--json]``: proposed tags."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..jsonsafe import dumps
from .base import Subcommand


def render(proposal: dict[str, Any], cells_total: int) -> str:
    """The proposed DAG and the tags of the cells that get one, as text."""
    out = [f"proposed: {proposal['message']}", "steps:"]
    for step in proposal["steps"]:
        cells = ", ".join(str(c + 1) for c in step["cells"])
        heading = f"  ({step['heading']!r})" if step["heading"] else ""
        out.append(f"  {step['name']}  cells {cells}{heading}")
        out.append(f"    after: {', '.join(step['depends_on']) or '-'}")
    out.append("tags:")
    for cell in proposal["cells"]:
        if cell["tags"]:
            out.append(f"  cell {cell['index'] + 1}: {' '.join(cell['tags'])}")
    return "\n".join(out)


class SplitApp(Subcommand):
    """Propose step tags for a notebook from its headings."""

    name = "split"
    description = (
        "Propose step tags for an untagged or partly tagged notebook: a step per section "
        "(H2 headings, or H1 when there are none), imports and functions as setup, "
        "display-only cells as skip. Prints the proposed DAG and tags; --write writes the "
        "tags (metadata.tags only) into the notebook."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("notebook", help="the .ipynb file to split")
        parser.add_argument(
            "--by", choices=("auto", "h2", "h1"), default="auto",
            help="the heading level that starts a step (auto: H2, else H1)",
        )  # fmt: skip
        parser.add_argument("--write", action="store_true", help="write the proposed tags")
        parser.add_argument("--json", action="store_true", help="print the proposal as JSON")

    def run(self, args: argparse.Namespace) -> int:
        from ..service import MlopsService

        service = MlopsService.create()
        if args.write:
            proposal = service.split_write(args.notebook, by=args.by)
        else:
            proposal = service.split(args.notebook, by=args.by)
        if args.json:
            print(dumps(proposal, indent=2))
            return 0
        for warning in proposal["warnings"]:
            where = f"cell {warning['cell'] + 1}: " if warning.get("cell") is not None else ""
            print(f"warning: {where}{warning['message']}", file=sys.stderr)
        print(render(proposal, len(proposal["cells"])))
        if args.write:
            written = proposal.get("written") or []
            print(f"wrote the tags of {len(written)} cell{'s' if len(written) != 1 else ''} "
                  f"to {args.notebook}", file=sys.stderr)  # fmt: skip
        else:
            print("(nothing written: --write applies these tags)", file=sys.stderr)
        return 0
