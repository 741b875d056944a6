"""``jupyter mlops verify NOTEBOOK [-p NAME VALUE] [--tolerance T] [--json]``."""

from __future__ import annotations

import argparse
import sys

from ..jsonsafe import dumps
from .base import Subcommand


class VerifyApp(Subcommand):
    """Check that the pipeline computes what the notebook computes."""

    name = "verify"
    description = (
        "Run the notebook top to bottom (one kernel) and its pipeline (a fresh kernel per "
        "step), at once when there are two cores or more, and compare every step's inputs "
        "and outputs and every metric. Exit 0 when equal, 1 naming the first difference, "
        "its likely cause and the fix."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("notebook", help="the tagged notebook (.ipynb)")
        parser.add_argument(
            "-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
            default=[], help="set a parameter (converted to its declared type); repeatable",
        )  # fmt: skip
        parser.add_argument(
            "--tolerance", type=float, default=None, metavar="T",
            help="relative and absolute tolerance for floats (default 1e-9)",
        )  # fmt: skip
        parser.add_argument("--jobs", type=int, default=None, help="parallel pipeline steps")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def run(self, args: argparse.Namespace) -> int:
        from ..service import MlopsService

        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # see run
        result = MlopsService.create().verify(
            args.notebook,
            parameter_texts=[tuple(p) for p in args.parameter],
            tolerance=args.tolerance,
            jobs=args.jobs,
        )
        if args.json:
            print(dumps(result, indent=2))
        else:
            seconds = result["seconds"]
            print(result["message"])
            difference = result["difference"]
            if difference:
                print(f"  cause: {difference['cause']}")
                print(f"  fix:   {difference['fix']}")
            print(f"(notebook {seconds['notebook']:.1f} s, pipeline {seconds['pipeline']:.1f} s, "
                  f"wall {seconds['wall']:.1f} s)", file=sys.stderr)  # fmt: skip
        return 0 if result["equal"] else 1
