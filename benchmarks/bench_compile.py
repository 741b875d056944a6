"""Time ``jupyter mlops compile`` on a realistic 200-cell, 20-step notebook.

Prints the wall time of ``python -c pass`` (interpreter start-up, for reference),
of the CLI as a subprocess, of the in-process API, of the REST handler's work for
``POST /mlops/api/pipeline`` (decode the body, compile, JSON Schema, publish defaults, encode
the answer) and, with ``--server``, the round trip of that POST to a real Jupyter server.
Run from the repo root:

    .venv/bin/python benchmarks/bench_compile.py [--repeat N] [--server]
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

STEP_TEMPLATE = [
    "# step {i}: derive features\n%time frame_{i} = frame_{p}.copy() if frame_{p} is not None else None\n",
    "def transform_{i}(rows, factor=SCALE):\n    out = []\n    for row in rows:\n"
    "        if row is None:\n            continue\n        out.append({{k: v * factor for k, v in row.items()}})\n"
    "    return out\n",
    "rows_{i} = transform_{i}(rows_{p})\nsummary_{i} = {{\n    'n': len(rows_{i}),\n"
    "    'keys': sorted({{k for r in rows_{i} for k in r}}),\n}}\n",
    "%%time\ntotal_{i} = sum(sum(r.values()) for r in rows_{i})\nassert total_{i} >= 0\n",
    "class Model{i}:\n    def __init__(self, alpha=ALPHA):\n        self.alpha = alpha\n"
    "    def fit(self, rows):\n        self.mean_ = total_{i} / max(len(rows), 1)\n        return self\n",
    "model_{i} = Model{i}().fit(rows_{i})\nscores_{i} = [model_{i}.mean_ * j for j in range(10)]\n"
    "best_{i} = max(scores_{i}) if scores_{i} else 0.0\n",
    "!echo step {i} done\nmeta_{i} = {{'best': best_{i}, 'total': total_{i}}}\n",
    "try:\n    import json as _json\nexcept ImportError:\n    _json = None\n"
    "report_{i} = _json.dumps(meta_{i}) if _json else str(meta_{i})\n",
    "print(report_{i})\n",
]


def build_notebook(steps: int = 20) -> dict:
    """A v4 notebook: setup, parameters, ``steps`` steps of ~10 cells, metrics (≈200 cells)."""

    def cell(source: str, *tags: str, kind: str = "code") -> dict:
        out = {"cell_type": kind, "metadata": {"tags": list(tags)}, "source": source}
        if kind == "code":
            out.update(outputs=[], execution_count=None)
        return out

    cells = [
        cell("# Benchmark notebook\nGenerated.", kind="markdown"),
        cell("import math\nimport random\nfrom collections import Counter\n", "imports"),
        cell("def clip(v, lo=0.0, hi=1.0):\n    return max(lo, min(hi, v))\n", "functions"),
        cell("SCALE = 2\nALPHA = 0.5\nSEED = 42\nNAME = 'bench'\n", "parameters"),
        cell(
            "random.seed(SEED)\nrows_0 = [{'a': random.random(), 'b': random.random()} "
            "for _ in range(100)]\nframe_0 = None\n",
            "step:load",
        ),
    ]
    for i in range(1, steps):
        p = i - 1
        cells.append(cell(f"## Step {i}", kind="markdown"))
        for k, template in enumerate(STEP_TEMPLATE):
            tags = [f"step:step-{i:02d}"] if k == 0 else []
            cells.append(cell(template.format(i=i, p=p), *tags))
    cells.append(
        cell(
            f"best = best_{steps - 1}\nmodel = model_{steps - 1}",
            "step:final",
            "model:model",
            "example:rows_1[:2]",
        )
    )
    cells.append(cell("print(best)\n", "pipeline-metrics"))
    cells.append(cell("Counter(r['a'] > 0.5 for r in rows_1).most_common()", "skip"))
    cells.append(cell("%matplotlib inline\nprint(meta_1)", "skip"))
    cells.append(cell("That's all.", kind="markdown"))
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": cells,
    }


def wall(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    """Best wall time of *cmd* over *repeat* runs (it must exit 0)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def handler_work(root: Path, nb: dict, repeat: int, cold: bool) -> tuple[float, float]:
    """Median wall and CPU seconds of what ``POST /mlops/api/pipeline`` does with a body
    (``cold``: no cell parsed before; else every cell but one, as after an edit)."""
    from jupyter_mlops.compiler import source
    from jupyter_mlops.jsonsafe import dumps
    from jupyter_mlops.service import MlopsService

    service = MlopsService.create(store=str(root / "store"), root_dir=str(root))
    walls, cpus = [], []
    original = nb["cells"][50]["source"]
    for i in range(max(repeat, 5)):
        nb["cells"][50]["source"] = f"{original}\nedited_{i} = {i}\n"
        body = json.dumps({"path": "bench.ipynb", "content": nb}).encode()
        if cold:
            source._parse_cached.cache_clear()
        start, cpu = time.perf_counter(), time.process_time()
        data = json.loads(body)
        answer = service.pipeline_view(data["path"], data["content"])
        dumps(answer)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    assert answer["errors"] == [], answer["errors"]
    return statistics.median(walls), statistics.median(cpus)


def server_round_trip(root: Path, nb: dict, repeat: int) -> float:
    """Median seconds of the POST to a real ``jupyter server`` (loopback, token auth)."""
    import secrets
    import socket
    import urllib.request

    token = secrets.token_hex(16)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(REPO), JUPYTER_MLOPS_STORE=str(root / "store"))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--port={port}", "--no-browser", "--allow-root",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.jpserver_extensions={'jupyter_mlops': True}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mlops/api/pipeline"
    body = json.dumps({"path": "bench.ipynb", "content": nb}).encode()
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        times = []
        for _ in range(max(repeat, 5) + 1):
            start = time.perf_counter()
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request) as response:
                json.loads(response.read())
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:])  # the first one imports the compiler
    finally:
        server.terminate()
        server.wait(10)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Print the figures; return them in seconds (``cli``, ``api``, ``python``, ...)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--server", action="store_true", help="also POST to a real server")
    args = parser.parse_args(argv)
    found: dict[str, float] = {}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ipynb"
        nb = build_notebook()
        path.write_text(json.dumps(nb))
        sys.path.insert(0, str(REPO))
        from jupyter_mlops.compiler import compile_notebook

        pipeline = compile_notebook(path)  # warm-up (and lazy IPython import)
        start = time.perf_counter()
        for _ in range(args.repeat):
            pipeline = compile_notebook(path)
        api = (time.perf_counter() - start) / args.repeat
        print(f"notebook: {len(nb['cells'])} cells, {len(pipeline.steps)} steps")
        base = wall([sys.executable, "-c", "pass"], env, args.repeat)
        cli = wall(
            [sys.executable, "-m", "jupyter_mlops.cli.app", "compile", str(path)], env, args.repeat
        )
        print(f"python -c pass:         {base * 1000:7.1f} ms")
        print(f"CLI compile (subprocess): {cli * 1000:7.1f} ms")
        print(f"API compile_notebook:   {api * 1000:7.1f} ms")
        found.update(python=base, cli=cli, api=api, cells=len(nb["cells"]),
                     steps=len(pipeline.steps))  # fmt: skip
        for cold in (True, False):
            wall_s, cpu_s = handler_work(Path(tmp), nb, args.repeat, cold)
            what = "no cell cached      " if cold else "one cell edited     "
            print(f"POST pipeline handler, {what}: {wall_s * 1000:7.1f} ms median "
                  f"({cpu_s * 1000:.1f} ms CPU)")  # fmt: skip
            found["handler_cold" if cold else "handler_edit"] = wall_s
        if args.server:
            trip = server_round_trip(Path(tmp), nb, args.repeat)
            print(f"POST pipeline round trip (real server): {trip * 1000:7.1f} ms median")
            found["round_trip"] = trip
    return found


if __name__ == "__main__":
    main()
