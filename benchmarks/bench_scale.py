"""Cost per step: chains of trivial steps against papermill on the same notebooks.

Chains of N one-cell steps (``x{i} = x{i-1} + 1``, stdlib only) and a 200-cell notebook split
into 20 steps, each run fresh with ``jupyter mlops run`` and, in the same invocation, as one
notebook with papermill (one kernel). Prints both wall times, their ratio, and our overhead per
extra step (the slope between the shortest and the longest chain), plus the no-op re-run of the
longest chain and the compile time of a 3,000-cell notebook.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_scale.py [--steps 10,50,200] [--repeat 1]
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


def _cell(source: str, *tags: str) -> dict:
    return {"cell_type": "code", "metadata": {"tags": list(tags)}, "execution_count": None,
            "outputs": [], "source": source}  # fmt: skip


def write(path: Path, cells: list[dict]) -> Path:
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}}}  # fmt: skip
    path.write_text(json.dumps(nb))
    return path


def chain(path: Path, steps: int) -> Path:
    cells = [_cell("x0 = 0", "parameters")]
    cells += [_cell(f"x{i} = x{i - 1} + 1", f"step:s{i}") for i in range(1, steps + 1)]
    return write(path, cells)


def split(path: Path, cells: int = 200, steps: int = 20) -> Path:
    per = cells // steps
    out = [_cell("x0 = 0", "parameters")]
    for i in range(1, cells + 1):
        tags = [f"step:s{(i - 1) // per + 1}"] if (i - 1) % per == 0 else []
        out.append(_cell(f"x{i} = x{i - 1} + 1", *tags))
    return write(path, out)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    for name in ("JUPYTER_MLOPS_STORE", "JUPYTER_MLOPS_REGISTRY_URI"):
        env.pop(name, None)
    return env


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return elapsed


def settle(store: Path, limit: float = 180.0) -> None:
    """Wait (untimed) until the run's report, written by a background process after our run
    exits, is there: the next measurement (often the peer's) must not share the CPU with it."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not any(store.glob("runs/*/report.html")):
        time.sleep(0.2)


def steady(store: Path) -> float:
    """The median time from one step's start to the next one's in a chain (papermill's
    start times in the executed notebooks): the cost of a step once its kernel is warm,
    without the run's fixed costs (process and kernel start, the end of the run)."""
    from datetime import datetime

    starts = []
    for path in store.glob("runs/*/*.ipynb"):
        cell = json.loads(path.read_text())["cells"][0]
        starts.append(datetime.fromisoformat(cell["metadata"]["papermill"]["start_time"]))
    starts.sort()
    return statistics.median(
        (b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)
    )


def ours(*args: str) -> list[str]:
    return [sys.executable, "-m", "jupyter_mlops.cli.app", *args]


def papermill(nb: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "papermill", str(nb), str(out), "--no-progress-bar",
            "--kernel", "python3"]  # fmt: skip


def measure(work: Path, sizes: list[int], repeat: int = 1) -> list[dict]:
    """One row per notebook: ``{"name", "steps", "ours", "papermill"}`` (median seconds),
    then ``{"name": "no-op"...}`` and ``{"name": "compile 3000 cells"...}``."""
    rows = []
    cases = [(f"chain of {n}", n, chain(work / f"chain{n}.ipynb", n)) for n in sizes]
    cases.append(("200 cells in 20 steps", 20, split(work / "split.ipynb")))
    for name, steps, nb in cases:
        mine, theirs = [], []
        for i in range(repeat):
            store = work / f"store-{nb.stem}-{i}"
            mine.append(timed(ours("run", str(nb), "--store", str(store), "--json"), work))
            settle(store)
            theirs.append(timed(papermill(nb, work / f"{nb.stem}-pm.ipynb"), work))
        rows.append({"name": name, "steps": steps, "ours": statistics.median(mine),
                     "papermill": statistics.median(theirs)})  # fmt: skip
    longest = max(sizes)
    store = work / f"store-chain{longest}-0"
    rows.append({"name": f"one step in a warm kernel (median, chain of {longest})",
                 "steps": longest, "ours": steady(store)})  # fmt: skip
    noop = timed(ours("run", str(work / f"chain{longest}.ipynb"), "--store", str(store)), work)
    settle(store)
    rows.append({"name": f"no-op re-run, chain of {longest}", "steps": longest, "ours": noop})
    big = chain(work / "compile3000.ipynb", 3000)
    # in a fresh process: a long-lived one (python -m benchmarks) has a heap that makes the
    # garbage collection after compiling cost more than the compile
    probe = (
        "import json, sys, time\n"
        "t0 = time.perf_counter()\n"
        "from jupyter_mlops.compiler import compile_notebook\n"
        "t1 = time.perf_counter()\n"
        "compile_notebook(sys.argv[1])\n"
        "print(json.dumps([t1 - t0, time.perf_counter() - t1]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(big)], env=_env(), check=True,
                          capture_output=True, text=True)  # fmt: skip
    imported, compiled = json.loads(done.stdout)
    rows.append({"name": "compile 3000 cells (in process)", "steps": 3000, "ours": compiled})
    rows.append({"name": "  + first import of the compiler", "steps": 0, "ours": imported})
    return rows


def per_step(rows: list[dict]) -> tuple[float, float]:
    """Extra seconds per extra step, ours and papermill's, between the shortest and the
    longest chain."""
    chains = sorted((r for r in rows if r["name"].startswith("chain")), key=lambda r: r["steps"])
    a, b = chains[0], chains[-1]
    span = b["steps"] - a["steps"]
    return (b["ours"] - a["ours"]) / span, (b["papermill"] - a["papermill"]) / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="10,50,200")
    parser.add_argument("--repeat", type=int, default=1)
    opts = parser.parse_args()
    sizes = [int(n) for n in opts.steps.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        rows = measure(Path(tmp), sizes, opts.repeat)
    print(f"{'notebook':<34}{'jupyter mlops':>14}{'papermill':>11}{'ratio':>8}")
    for row in rows:
        if "papermill" in row:
            ratio = row["ours"] / row["papermill"]
            print(f"{row['name']:<34}{row['ours']:>13.2f}s{row['papermill']:>10.2f}s{ratio:>8.2f}")
        else:
            print(f"{row['name']:<34}{row['ours']:>13.3f}s")
    mine, theirs = per_step(rows)
    print(f"per extra step: jupyter mlops {mine * 1000:.0f} ms, papermill {theirs * 1000:.0f} ms")


if __name__ == "__main__":
    main()
