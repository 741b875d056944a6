"""CLI wall times (``jupyter mlops models | history | alias | publish``, a refused gate) next
to plain MLflow's equivalent calls, each a fresh process, in one invocation.

A small scikit-learn notebook is run once into a temporary store (warm, already created
SQLite registry: one publish happens before timing). Every command is timed as a whole process
(interpreter start, imports, work), which is what a user waits for. Plain MLflow's
equivalents are the smallest Python scripts doing the same with ``MlflowClient`` /
``mlflow.sklearn.log_model`` + ``register_model`` on the same registry.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_cli.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # installed packages have bytecode; measure with it

NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {"tags": ["imports"]}, "execution_count": None,
         "outputs": [], "source": "from sklearn.datasets import load_iris\n"
         "from sklearn.linear_model import LogisticRegression"},
        {"cell_type": "code", "metadata": {"tags": ["step:train", "model:clf", "example:X[:5]"]},
         "execution_count": None, "outputs": [],
         "source": "X, y = load_iris(return_X_y=True, as_frame=True)\n"
         "clf = LogisticRegression(max_iter=300).fit(X, y)\naccuracy = float(clf.score(X, y))"},
        {"cell_type": "code", "metadata": {"tags": ["metrics"]}, "execution_count": None,
         "outputs": [], "source": "accuracy"},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip

PLAIN = {
    "models": """
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=URI, registry_uri=URI)
for rm in c.search_registered_models():
    for mv in c.search_model_versions(f"name = '{rm.name}'"):
        print(rm.name, mv.version, c.get_run(mv.run_id).data.metrics if mv.run_id else {})
""",
    "history": """
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=URI, registry_uri=URI)
print(c.get_registered_model("bench").tags)
""",
    "alias": """
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=URI, registry_uri=URI)
c.set_registered_model_alias("bench", "champion", "1")
""",
    "refused gate": """
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=URI, registry_uri=URI)
mv = c.get_model_version_by_alias("bench", "champion")
assert not (ACCURACY > c.get_run(mv.run_id).data.metrics.get("accuracy", 0))
""",
    "publish": """
import mlflow, mlflow.sklearn, pickle, cloudpickle
from jupyter_mlops.serialization import load
clf = load(MODEL)
mlflow.set_tracking_uri(URI)
mlflow.set_experiment("plain")
with mlflow.start_run():
    info = mlflow.sklearn.log_model(clf, name="model", input_example=load(EXAMPLE),
                                    skops_trusted_types=["sklearn.tree._tree.Tree"])
mlflow.register_model(info.model_uri, "bench-plain")
""",
}


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ, **extra)
    for name in ("JUPYTER_MLOPS_STORE", "JUPYTER_MLOPS_REGISTRY_URI", "MLFLOW_TRACKING_URI"):
        out.pop(name, None)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    out["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return out


def timed(cmd: list[str], cwd: Path, expect: int = 0, **extra: str) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env(**extra), capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != expect:
        raise SystemExit(f"{cmd}: exit {done.returncode}\n{done.stderr}")
    return elapsed


JUPYTER = Path(sys.executable).with_name("jupyter")


def ours(*args: str) -> list[str]:
    """``jupyter mlops ARGS`` as a user types it (the ``jupyter`` launcher when installed)."""
    if JUPYTER.exists():
        return [str(JUPYTER), "mlops", *args]
    return [sys.executable, "-m", "jupyter_mlops.cli.app", *args]


def measure(repeat: int) -> list[tuple[str, float, float, float]]:
    """(command, ours, plain MLflow, target) in seconds: medians of ``repeat`` processes."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        (work / "train.ipynb").write_text(json.dumps(NOTEBOOK))
        store = work / ".mlops"
        uri = f"sqlite:///{store / 'registry.db'}"
        timed(ours("run", "train.ipynb"), work)
        record = json.loads(subprocess.run(ours("show", "latest", "--json"), cwd=work, env=env(),
                                           capture_output=True, text=True).stdout)  # fmt: skip
        timed(ours("publish", "latest", "--name", "bench", "--alias", "champion"), work)  # warm
        prelude = (
            f"URI = {uri!r}; MODEL = {record['model']['artifact']!r}; "
            f"EXAMPLE = {record['example']['artifact']!r}; "
            f"ACCURACY = {record['metrics']['accuracy']!r}\n"
        )
        cases = {
            "models": (ours("models"), 0, 1.5),
            "history": (ours("history", "bench"), 0, 1.5),
            "alias": (ours("alias", "bench", "champion", "1"), 0, 2.5),
            "refused gate": (
                ours("publish", "latest", "--name", "bench", "--must-beat", "champion:accuracy"),
                3,
                2.0,
            ),
            "publish": (ours("publish", "latest", "--name", "bench"), 0, 3.5),
            "publish via MLflow": (ours("publish", "latest", "--name", "bench"), 0, 0.0),
        }
        extra = {"publish via MLflow": {"JUPYTER_MLOPS_PUBLISH_VIA_MLFLOW": "1"}}
        for name, (cmd, code, target) in cases.items():
            mine = [timed(cmd, work, code, **extra.get(name, {})) for _ in range(repeat)]
            plain_cmd = [sys.executable, "-c", prelude + PLAIN[name.split(" via")[0]]]
            theirs = [timed(plain_cmd, work) for _ in range(repeat)]
            rows.append((name, statistics.median(mine), statistics.median(theirs), target))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    print(f"{'command':<20}{'jupyter mlops':>14}{'plain MLflow':>14}{'ratio':>8}{'target':>8}")
    for name, a, b, target in measure(opts.repeat):
        goal = f"{target:>7.1f}s" if target else f"{'-':>8}"
        print(f"{name:<20}{a:>13.2f}s{b:>13.2f}s{a / b:>8.2f}{goal}")


if __name__ == "__main__":
    main()
