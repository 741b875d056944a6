"""``jupyter mlops info [NOTEBOOK]``: which store and registry a command would use, and why."""

from __future__ import annotations

import argparse
import json

from .base import Subcommand
from .run_cmd import STORE_HELP


class InfoApp(Subcommand):
    """Show the store, how it was found, the registry and the line for plain MLflow."""

    name = "info"
    description = (
        "Show the store and registry used for NOTEBOOK (or the current folder), how they were "
        "found, and how to point plain MLflow at the same registry."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("notebook", nargs="?", metavar="NOTEBOOK", help="a notebook (.ipynb)")
        parser.add_argument("--store", help=STORE_HELP)
        parser.add_argument("--registry-uri", help="MLflow registry/tracking URI")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, args: argparse.Namespace) -> int:
        from ..service import MlopsService

        info = MlopsService.create(store=args.store, registry_uri=args.registry_uri).info(
            args.notebook
        )
        if args.json:
            print(json.dumps(info, indent=2))
            return 0
        state = "" if info["store_exists"] else " (not created yet)"
        if info["notebook"]:
            print(f"notebook  {info['notebook']}")
        print(f"store     {info['store']}{state}")
        print(f"          {info['store_how']}")
        print(f"registry  {info['registry_uri']}")
        print(f"          {info['registry_how']}")
        print("plain MLflow sees the same registry with:")
        print(f"  {info['mlflow_env']}")
        print(f"jupyter-mlops {info['version']}")
        return 0
