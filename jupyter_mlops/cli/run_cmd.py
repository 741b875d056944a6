"""``jupyter mlops run``, ``runs`` and ``show``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, MlopsError
from ..jsonsafe import dumps
from ..runner.executors import resolve_executor
from ..runner.record import public_record
from ..service import MlopsService
from .base import Subcommand
from .progress import Progress, failure_lines, summary_table

STORE_HELP = (
    "store folder (default: $JUPYTER_MLOPS_STORE, else the nearest .mlops in the notebook's "
    "(or current) folder or above, else a new one at the top of the git work tree or here; "
    "`jupyter mlops info` shows it)"
)


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help=STORE_HELP, default=None)


class RunApp(Subcommand):
    """Run a notebook's pipeline headlessly through papermill."""

    name = "run"
    description = "Run a tagged notebook's pipeline headlessly through papermill."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("notebook", help="the tagged notebook (.ipynb)")
        parser.add_argument(
            "-p",
            "--parameter",
            nargs=2,
            action="append",
            metavar=("NAME", "VALUE"),
            default=[],
            help="set a parameter (converted to its declared type); repeatable",
        )
        parser.add_argument("-f", "--parameters-file", help="YAML or JSON file of parameters")
        _store_option(parser)
        parser.add_argument("--jobs", type=int, default=None, help="parallel steps (default: CPUs)")
        parser.add_argument("--no-cache", action="store_true", help="re-run every step")
        parser.add_argument("--isolate", action="store_true", help="a fresh kernel per step")
        parser.add_argument(
            "--refresh",
            action="append",
            default=[],
            metavar="STEP",
            help="re-run STEP and its dependents even if cached; repeatable",
        )
        parser.add_argument("--step-timeout", type=float, default=None, metavar="SECONDS")
        _executor_options(parser)
        parser.add_argument("--json", action="store_true", help="print the run record as JSON")
        publish = _publish_options()
        if publish is not None:
            publish(parser)

    def run(self, args: argparse.Namespace) -> int:
        # jsonschema (imported by nbformat) eagerly imports rfc3987_syntax, which builds a
        # grammar for 0.7 s, only to check "iri" formats that notebook validation never uses.
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
        publish = _publish_request(args)
        executor = resolve_executor(args.executor, args.scheduler, args.artifacts, args.retries)
        service = MlopsService.create(
            store=args.store, registry_uri=getattr(args, "registry_uri", None)
        )
        if publish is not None:  # checked with the notebook's saved settings before it runs
            publish = service.publish_options(args.notebook, **publish)
        pipeline = service.pipeline(args.notebook)
        for warning in pipeline.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        steps = [s.name for s in pipeline.steps]
        progress = Progress(steps)
        record = service.run(
            args.notebook,
            parameter_texts=[tuple(p) for p in args.parameter],
            parameter_file=args.parameters_file,
            jobs=args.jobs,
            use_cache=not args.no_cache,
            isolate=args.isolate,
            step_timeout=args.step_timeout,
            on_event=progress,
            refresh=args.refresh,
            executor=executor,
            pipeline=pipeline,
        )
        progress.close()
        print(summary_table(record), file=sys.stderr)
        if not record.get("report") and record["status"] != "cancelled" and record.get("run_dir"):
            report = Path(record["run_dir"]) / "report.html"
            print(f"report {report} (being written in the background)", file=sys.stderr)
        for line in failure_lines(record):
            print(f"error: {line}", file=sys.stderr)
        published, refused = None, None
        if publish is not None and record["status"] == "succeeded":
            try:
                published = service.publish(record["id"], **publish)
                print(
                    f"published {published['name']} version {published['version']}"
                    f" ({published['uri']})",
                    file=sys.stderr,
                )
                if "promotion" in published:
                    from .registry_cmd import promotion_line

                    print(promotion_line(published), file=sys.stderr)
            except MlopsError as exc:
                refused = exc
        if args.json:
            out = public_record(record)
            if publish is not None:
                out["publish"] = published or ({"error": refused.messages} if refused else None)
            print(dumps(out, indent=2))
        if record["status"] == "cancelled":
            print("error: run cancelled", file=sys.stderr)
            return 130
        if record["status"] != "succeeded":
            return 1
        if refused is not None:
            raise refused
        return 0


def _executor_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("executor (where steps run)")
    group.add_argument(
        "--executor", choices=["local", "dask"], default=None,
        help="local kernels (default) or the workers of a Dask cluster "
        "(default: $JUPYTER_MLOPS_EXECUTOR)",
    )  # fmt: skip
    group.add_argument(
        "--scheduler", metavar="tcp://HOST:8786", default=None,
        help="the Dask scheduler's address (default: $JUPYTER_MLOPS_DASK_SCHEDULER)",
    )  # fmt: skip
    group.add_argument(
        "--artifacts", metavar="URL", default=None,
        help="store shared with the workers: s3://BUCKET/PREFIX or a shared folder "
        "(default: $JUPYTER_MLOPS_ARTIFACTS)",
    )  # fmt: skip
    group.add_argument(
        "--retries", type=int, default=None, metavar="N",
        help="with --executor dask: re-run a step whose worker was lost, N times (default 1)",
    )  # fmt: skip


def _publish_options():
    """The registry CLI's gate options, when the registry part is installed."""
    try:
        from .registry_cmd import add_publish_options
    except ImportError:
        return None

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--publish", metavar="NAME", nargs="?", const="",
            help="publish the run's model as NAME when it succeeds (NAME and options not "
            "given: the notebook's saved publish settings, metadata.mlops.publish)",
        )  # fmt: skip
        add_publish_options(parser)

    return add


def _publish_request(args: argparse.Namespace) -> dict[str, Any] | None:
    """Publish options given (None: not given), or None without ``--publish``."""
    if getattr(args, "publish", None) is not None:
        from .registry_cmd import publish_kwargs

        return {"name": args.publish or None, **publish_kwargs(args)}
    given = [
        flag
        for flag, value in (
            ("--alias", getattr(args, "alias", None)),
            ("--require", getattr(args, "require", None)),
            ("--must-beat", getattr(args, "must_beat", None)),
            ("--description", getattr(args, "description", None)),
            ("--promote", getattr(args, "promote", None)),
        )
        if value
    ]
    if given:
        raise InvalidInput(f"{', '.join(given)} only make sense with --publish NAME")
    return None


class RunsApp(Subcommand):
    """List runs, newest first."""

    name = "runs"
    description = "List the runs in the store, newest first."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--notebook", help="only runs of this notebook")
        _store_option(parser)
        parser.add_argument("--json", action="store_true")

    def run(self, args: argparse.Namespace) -> int:
        service = MlopsService.create(store=args.store)
        records = service.runs(args.notebook)
        if args.json:
            print(dumps([public_record(r) for r in records], indent=2))
            return 0
        if not records:
            print("no runs")
            print(f"(store {service.store_for(args.notebook)})", file=sys.stderr)
            return 0
        print(runs_table(records))
        return 0


def _defaults(notebook: str, cache: dict[str, dict[str, Any] | None]) -> dict[str, Any] | None:
    """The notebook's current parameter defaults (None when it cannot be compiled)."""
    if notebook not in cache:
        try:
            from ..compiler import compile_notebook

            declared = compile_notebook(notebook).parameters
            cache[notebook] = {name: p["default"] for name, p in declared.items()}
        except Exception:  # noqa: BLE001 - a moved or broken notebook: show every parameter
            cache[notebook] = None
    return cache[notebook]


def _value(value: Any) -> str:
    return value if isinstance(value, str) and " " not in value else dumps(value)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def runs_table(records: list[dict[str, Any]]) -> str:
    """Runs as aligned columns under a header: the parameters that differ from the
    notebook's defaults (all of them when it cannot be read) and the metrics."""
    import os

    cache: dict[str, dict[str, Any] | None] = {}
    rows = [("run", "status", "seconds", "started", "notebook", "parameters", "metrics")]
    for r in records:
        defaults = _defaults(r["notebook"], cache)
        params = " ".join(
            f"{k}={_value(v)}"
            for k, v in (r["parameters"] or {}).items()
            if defaults is None or k not in defaults or defaults[k] != v
        )
        metrics = " ".join(f"{k}={_number(v)}" for k, v in (r["metrics"] or {}).items())
        duration = f"{r['duration_s']:.1f}" if r["duration_s"] is not None else "-"
        started = (r.get("started_at") or r.get("created_at") or "-")[:19].replace("T", " ")
        try:
            notebook = os.path.relpath(r["notebook"])
        except ValueError:
            notebook = r["notebook"]
        if notebook.startswith(".." + os.sep + ".."):
            notebook = r["notebook"]
        rows.append((r["id"], r["status"], duration, started, notebook, params or "-", metrics))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = []
    for row in rows:
        cells = [row[i].rjust(widths[i]) if i == 2 else row[i].ljust(widths[i]) for i in range(6)]
        lines.append(("  ".join(cells) + "  " + row[6]).rstrip())
    return "\n".join(lines)


class ShowApp(Subcommand):
    """Show one run."""

    name = "show"
    description = "Show one run: steps, errors, metrics, model."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_id", metavar="RUN_ID", help="a run id, or 'latest'")
        parser.add_argument("--notebook", help="with 'latest': newest run of this notebook")
        _store_option(parser)
        parser.add_argument("--json", action="store_true")

    def run(self, args: argparse.Namespace) -> int:
        service = MlopsService.create(store=args.store)
        record = service.get_run(args.run_id, notebook=args.notebook)
        if args.json:
            print(dumps(public_record(record), indent=2))
            return 0
        print(summary_table(record))
        for line in failure_lines(record):
            print(line)
        return 0
