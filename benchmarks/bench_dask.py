"""The Dask executor against the local one, on this machine (issue [I]).

Starts a real ``dask scheduler`` and two ``dask worker`` processes (one thread each, no
nanny) on 127.0.0.1 and times ``jupyter mlops run`` (fresh, ``--no-cache``):

- 8 independent 2-second steps: local ``--jobs 2`` vs Dask with 2 workers;
- a chain of N trivial steps, local ``--jobs 1`` vs Dask: the executor's overhead per step
  (the difference divided by N; goal ≤ 0.3 s). The workers are warmed by one run first.

Artifacts go through a shared folder (``--artifacts``): this measures the executor, not S3.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_dask.py [--chain 10] [--repeat 1]
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

REPO = Path(__file__).resolve().parents[1]
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # installed packages have bytecode; measure with it
sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks")]

from bench_scale import _cell, write  # noqa: E402


def _run(nb: Path, store: Path, *extra: str) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "jupyter_mlops.cli.app", "run", str(nb), "--store", str(store),
         "--no-cache", "--json", *extra],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or json.loads(done.stdout)["status"] != "succeeded":
        raise SystemExit(f"run failed: {done.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> dict[str, float]:
    from dask_fixtures import start_cluster

    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wide = write(folder / "wide.ipynb",
                     [_cell(f"import time\ntime.sleep(2)\nx{i} = {i}", f"step:s{i}")
                      for i in range(8)])  # fmt: skip
        chain = write(folder / "chain.ipynb",
                      [_cell("x0 = 0", "step:s0")]
                      + [_cell(f"x{i} = x{i - 1} + 1", f"step:s{i}")
                         for i in range(1, args.chain)])  # fmt: skip
        started = time.perf_counter()
        cluster = start_cluster(folder / "cluster", {}, {"a": [], "b": []})
        print(f"cluster (scheduler + 2 workers) ready in {time.perf_counter() - started:.2f} s")
        dask = ["--executor", "dask", "--scheduler", cluster.address,
                "--artifacts", str(folder / "shared")]  # fmt: skip
        try:
            _run(chain, folder / "warm", *dask)  # imports and kernels warm on the workers
            found: dict[str, list[float]] = {
                k: [] for k in ("wide_local", "wide_dask", "chain_local", "chain_dask")
            }
            for _ in range(args.repeat):
                found["wide_local"].append(_run(wide, folder / "l1", "--jobs", "2"))
                found["wide_dask"].append(_run(wide, folder / "d1", *dask))
                found["chain_local"].append(_run(chain, folder / "l2", "--jobs", "1"))
                found["chain_dask"].append(_run(chain, folder / "d2", *dask, "--jobs", "1"))
        finally:
            cluster.stop()
    result = {k: statistics.median(v) for k, v in found.items()}
    result["per_step"] = (result["chain_dask"] - result["chain_local"]) / args.chain
    print(f"8 independent 2 s steps, local --jobs 2:   {result['wide_local']:.2f} s")
    print(f"8 independent 2 s steps, Dask, 2 workers:  {result['wide_dask']:.2f} s")
    print(f"chain of {args.chain} trivial steps, local:      {result['chain_local']:.2f} s")
    print(f"chain of {args.chain} trivial steps, Dask:       {result['chain_dask']:.2f} s")
    print(f"Dask overhead per step: {result['per_step'] * 1000:.0f} ms (goal <= 300 ms)")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return result


if __name__ == "__main__":
    main()
