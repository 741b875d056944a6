"""``jupyter mlops``: the top-level command and its subcommands.

Subcommands are named by import string so that ``jupyter mlops compile`` imports
only what compiling needs (no papermill, mlflow or jupyter_server). The dispatcher is
plain ``argparse`` (not a traitlets ``JupyterApp``): traitlets and jupyter_core cost
≈ 0.13 s of every command's start, a third of a no-op ``run``.
"""

from __future__ import annotations

import importlib
import sys

from .._version_info import __version__

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "compile": (
        "jupyter_mlops.cli.compile_cmd.CompileApp",
        "Compile a tagged notebook into a pipeline and print its steps.",
    ),
    "split": (
        "jupyter_mlops.cli.split_cmd.SplitApp",
        "Propose step tags for a notebook from its headings (--write to apply them).",
    ),
    "verify": (
        "jupyter_mlops.cli.verify_cmd.VerifyApp",
        "Check that the pipeline computes what the notebook computes, top to bottom.",
    ),
    "run": (
        "jupyter_mlops.cli.run_cmd.RunApp",
        "Run a notebook's pipeline headlessly through papermill.",
    ),
    "runs": (
        "jupyter_mlops.cli.run_cmd.RunsApp",
        "List the runs in the store, newest first.",
    ),
    "show": (
        "jupyter_mlops.cli.run_cmd.ShowApp",
        "Show one run.",
    ),
    "gc": (
        "jupyter_mlops.cli.gc_cmd.GcApp",
        "Delete old runs and the artifacts that nothing kept needs.",
    ),
    "publish": (
        "jupyter_mlops.cli.registry_cmd.PublishApp",
        "Publish a run's model as a new version in the model registry.",
    ),
    "models": (
        "jupyter_mlops.cli.registry_cmd.ModelsApp",
        "List registered models and their versions.",
    ),
    "alias": (
        "jupyter_mlops.cli.registry_cmd.AliasApp",
        "Set or delete a model alias.",
    ),
    "info": (
        "jupyter_mlops.cli.info_cmd.InfoApp",
        "Show which store and registry are used (and how to point plain MLflow at them).",
    ),
    "history": (
        "jupyter_mlops.cli.registry_cmd.HistoryApp",
        "Show every publish and alias move of a model.",
    ),
    "schedule": (
        "jupyter_mlops.cli.schedule_cmd.ScheduleApp",
        "Run a notebook on a cron schedule: add, list, show, pause, resume, remove, run-now.",
    ),
    "scheduler": (
        "jupyter_mlops.cli.scheduler_cmd.SchedulerApp",
        "Fire the store's schedules in the foreground until stopped (SIGTERM).",
    ),
    "serve": (
        "jupyter_mlops.cli.serve_cmd.ServeApp",
        "Serve a published version over HTTP with MLflow's model server.",
    ),
}


USAGE = "usage: jupyter mlops [--version] [--help] COMMAND [ARGS...]"
DESCRIPTION = (
    "jupyter-mlops: compile a tagged notebook into a pipeline, run it headlessly, "
    "and publish its model to a registry."
)


def _help() -> str:
    lines = [USAGE, "", DESCRIPTION, "", "Subcommands", "-----------", ""]
    for name, (_, text) in SUBCOMMANDS.items():
        lines += [name, f"    {text}"]
    lines += ["", "`jupyter mlops COMMAND --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``jupyter mlops [COMMAND] ARGS``: run one subcommand; exits with its code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_help())
        sys.exit(0)
    if args[0] in ("--version", "-V"):
        print(__version__)
        sys.exit(0)
    if args[0] not in SUBCOMMANDS:
        known = ", ".join(sorted(SUBCOMMANDS))
        print(f"error: unknown command {args[0]!r}; commands: {known}", file=sys.stderr)
        sys.exit(2)
    module, _, cls = SUBCOMMANDS[args[0]][0].rpartition(".")
    command = getattr(importlib.import_module(module), cls)()
    sys.exit(command.main(args[1:]))


launch_new_instance = main

if __name__ == "__main__":  # pragma: no cover
    main()
