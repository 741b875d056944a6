"""Benchmark ``jupyter mlops verify`` against what it replaces: a papermill run of the whole
notebook plus a pipeline run with isolated steps, all measured in this one invocation on the
4-step pandas + scikit-learn notebook of ``bench_run.py``.

verify runs both at once when there are two cores or more, so its wall time should be at most
1.1 × (papermill + ``run --isolate --no-cache``) on a 2-core machine, and lower with more.

Usage: ``python benchmarks/bench_verify.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run import BIN, REPO, four_step_notebook, mlops, timed  # noqa: E402


def measure(work: Path, repeat: int) -> dict[str, float]:
    """Medians (seconds) of papermill, the isolated pipeline run and verify; prints them."""
    nb = work / "four.ipynb"
    four_step_notebook(nb)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    papermill = [str(BIN / "papermill"), "--no-progress-bar", str(nb), str(work / "pm-out.ipynb")]
    timed(papermill, work, env)  # warm the OS caches once
    pm, run, verify = [], [], []
    for i in range(repeat):
        pm.append(timed(papermill, work, env))
        store = str(work / f"store{i}")
        run.append(timed(mlops("run", str(nb), "--isolate", "--no-cache", "--store", store),
                         work, env))  # fmt: skip
        verify.append(timed(mlops("verify", str(nb)), work, env))
    med = statistics.median
    both = med(pm) + med(run)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"4-step pandas+sklearn notebook, median of {repeat} ({os.cpu_count()} CPUs, "
          f"load {load}):")  # fmt: skip
    print(f"  papermill, whole notebook           {med(pm):6.2f} s")
    print(f"  jupyter mlops run --isolate         {med(run):6.2f} s")
    print(f"  papermill + run --isolate           {both:6.2f} s   (1.00×)")
    print(f"  jupyter mlops verify                {med(verify):6.2f} s   "
          f"({med(verify) / both:.2f}× the two runs; target ≤ 1.1×)")  # fmt: skip
    return {"papermill": med(pm), "run": med(run), "verify": med(verify), "both": both}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    base = os.environ.get("BENCH_TMP", "/work" if os.path.isdir("/work") else None)
    with tempfile.TemporaryDirectory(prefix="bench-verify-", dir=base) as tmp:
        return measure(Path(tmp), args.repeat)


if __name__ == "__main__":
    main()
