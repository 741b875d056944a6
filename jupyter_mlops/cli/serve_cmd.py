"""``jupyter mlops serve NAME[@ALIAS|/VERSION]``: MLflow's model server for a published version."""

from __future__ import annotations

import argparse
import os
import sys

from .base import Subcommand
from .registry_cmd import _add_registry_options, _service


class ServeApp(Subcommand):
    name = "serve"
    description = (
        "Serve a published version over HTTP with MLflow's model server (mlflow models serve "
        "--env-manager local): POST /invocations, GET /ping. Needs the full mlflow package "
        "(pip install 'jupyter-mlops[serve]')."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", metavar="NAME[@ALIAS|/VERSION]",
                            help="the version to serve (default: the newest)")  # fmt: skip
        parser.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
        parser.add_argument("--host", default="127.0.0.1",
                            help="address to listen on (default: 127.0.0.1, this machine "
                            "only; the server has no authentication)")  # fmt: skip
        parser.add_argument("--workers", type=int, default=1, help="server processes")
        parser.add_argument("--allow-pickle", action="store_true",
                            help="also serve a version not published by jupyter-mlops "
                            "(loading it may run arbitrary code)")  # fmt: skip
        parser.add_argument("--print-example", action="store_true",
                            help="print the version's stored example request body (JSON for "
                            "POST /invocations) and exit")  # fmt: skip
        _add_registry_options(parser)

    def run(self, args: argparse.Namespace) -> int:
        from ..errors import InvalidInput
        from ..registry import serving

        if args.workers < 1:
            raise InvalidInput(f"--workers {args.workers}: expected at least 1")
        served = _service(args).serving(args.model, allow_pickle=args.allow_pickle)
        if args.print_example:
            print(served.example())
            return 0
        serving.require_server()
        serving.check_port(args.host, args.port)
        argv, env = serving.command(served, args.host, args.port, args.workers)
        print(serving.describe(served, args.host, args.port), file=sys.stderr, flush=True)
        sys.stdout.flush()
        os.execve(argv[0], argv, env)  # MLflow's server replaces this process (signals reach it)
        return 0  # pragma: no cover
