"""``jupyter mlops``: the top-level command and its subcommands.

Subcommands are named by import string so that ``jupyter mlops compile`` imports
only what compiling needs (no papermill, mlflow or jupyter_server).
"""

from __future__ import annotations

import sys

from jupyter_core.application import JupyterApp

from .._version_info import __version__

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "compile": (
        "jupyter_mlops.cli.compile_cmd.CompileApp",
        "Compile a tagged notebook into a pipeline and print its steps.",
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
}


def _available_subcommands() -> dict[str, tuple[str, str]]:
    """Keep only subcommands whose module exists in this build."""
    import importlib.util

    available = {}
    for name, (target, help_text) in SUBCOMMANDS.items():
        module = target.rsplit(".", 1)[0]
        if importlib.util.find_spec(module) is not None:
            available[name] = (target, help_text)
    return available


class MlopsApp(JupyterApp):
    """Take a tagged notebook to a versioned model."""

    name = "jupyter-mlops"
    version = __version__
    description = (
        "jupyter-mlops: compile a tagged notebook into a pipeline, run it headlessly, "
        "and publish its model to a registry."
    )
    subcommands = _available_subcommands()

    def start(self) -> None:
        if self.subapp is None and self.extra_args:
            known = ", ".join(sorted(self.subcommands))
            print(
                f"error: unknown command {self.extra_args[0]!r}; commands: {known}",
                file=sys.stderr,
            )
            self.exit(2)
        if self.subapp is None:
            self.print_help()
            print("\nSubcommands: " + ", ".join(sorted(self.subcommands)))
            self.exit(0)
        super().start()


main = launch_new_instance = MlopsApp.launch_instance

if __name__ == "__main__":  # pragma: no cover
    main()
