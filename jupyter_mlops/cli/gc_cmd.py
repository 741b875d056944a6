"""``jupyter mlops gc [--keep N] [--older-than DURATION] [--dry-run]``."""

from __future__ import annotations

import argparse
import json

from ..service import MlopsService
from .base import Subcommand


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


class GcApp(Subcommand):
    """Delete old runs and the artifacts nothing kept needs."""

    name = "gc"
    description = (
        "Delete runs and artifacts that no kept run, cache entry or published version needs. "
        "Without --keep/--older-than every run is kept and only unreferenced artifacts go."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--keep", type=int, default=None, metavar="N",
                            help="keep the N newest runs")  # fmt: skip
        parser.add_argument("--older-than", default=None, metavar="DURATION",
                            help="drop only runs older than this (45s, 90m, 12h, 30d, 2w)")  # fmt: skip
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would go; delete nothing"
        )
        parser.add_argument("--store", default=None,
                            help="store folder (default: $JUPYTER_MLOPS_STORE or ./.mlops)")  # fmt: skip
        parser.add_argument("--registry-uri", default=None,
                            help="registry whose published runs are kept (default as publish)")  # fmt: skip
        parser.add_argument("--json", action="store_true")

    def run(self, args: argparse.Namespace) -> int:
        service = MlopsService.create(store=args.store, registry_uri=args.registry_uri)
        result = service.gc(keep=args.keep, older_than=args.older_than, dry_run=args.dry_run)
        if args.json:
            print(json.dumps(result, indent=2))
            return 0
        verb = "would remove" if result["dry_run"] else "removed"
        freed = "would free" if result["dry_run"] else "freed"
        print(
            f"{verb} {len(result['runs'])} run(s) and {result['artifacts']} artifact(s), "
            f"kept {result['kept']} run(s); {freed} {human_bytes(result['bytes'])} "
            f"({result['bytes']} bytes)"
        )
        return 0
