"""Publish benchmark: ``jupyter_mlops.publish`` vs MLflow's plain ``log_model`` +
``register_model`` (default settings except the skops trusted type a RandomForest needs), same small scikit-learn model, one invocation.

Each measurement runs in a fresh Python process (so MLflow's import is paid by both), timed
around the call with the model already fitted in memory, on a warm (already created)
SQLite registry. ``publish`` includes the fresh-process deployability check.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_publish.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETUP = f"""
import sys, time, json
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
import registry_fixtures as rf
clf, X = rf.iris(n_estimators=10)
store = sys.argv[1]
"""

OURS = (
    SETUP
    + """
rec = rf.make_record(__import__("pathlib").Path(store), clf, X, {"accuracy": 0.95})
t = time.perf_counter()
import jupyter_mlops
r = jupyter_mlops.publish(rec["id"], "bench", aliases=["champion"], store=store)
print(json.dumps({"seconds": time.perf_counter() - t, "version": r["version"]}))
"""
)

PLAIN = (
    SETUP
    + """
t = time.perf_counter()
import mlflow, mlflow.sklearn
uri = f"sqlite:///{store}/plain.db"
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("plain")
with mlflow.start_run():
    info = mlflow.sklearn.log_model(
        clf, name="model", input_example=X, skops_trusted_types=["sklearn.tree._tree.Tree"]
    )
mv = mlflow.register_model(info.model_uri, "bench-plain")
print(json.dumps({"seconds": time.perf_counter() - t, "version": int(mv.version)}))
"""
)


def run(code: str, store: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, store], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(repeat: int) -> tuple[list[float], list[float]]:
    """Seconds of ``repeat`` publishes and of as many plain MLflow log + register calls."""
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "store")
        run(OURS, store)  # warm-up: creates the registry (one-time cost, reported below)
        run(PLAIN, store)
        ours = [run(OURS, store)["seconds"] for _ in range(repeat)]
        plain = [run(PLAIN, store)["seconds"] for _ in range(repeat)]
    return ours, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ours, plain = measure(args.repeat)
    o, p = statistics.median(ours), statistics.median(plain)
    print(f"jupyter_mlops.publish (incl. fresh-process check): median {o:.2f} s  {ours}")
    print(f"mlflow log_model + register_model (defaults):      median {p:.2f} s  {plain}")
    print(f"ratio publish / plain mlflow: {o / p:.2f}  (target: publish <= 2.5 s)")


if __name__ == "__main__":
    main()
