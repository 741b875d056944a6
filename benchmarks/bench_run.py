"""Benchmark ``jupyter mlops run`` against plain papermill (and Ploomber when installed).

Prints wall times and ratios measured in this one invocation, on a tagged 4-step
pandas + scikit-learn notebook (make data, featurize, train, evaluate):

- fresh run vs papermill on the whole notebook (target ≤ 1.25×),
- no-op re-run (target ≤ 0.5 s),
- re-run after editing the last step vs the fresh papermill run (target ≤ 1.0×),
- passing a 1 GB numpy array between two steps (target ≥ 1 GB/s), in one kernel and
  with ``--isolate``.

The same four steps as a Ploomber project are timed too when Ploomber is installed (on PATH,
next to this Python, or ``PLOOMBER=/path/to/ploomber``; it may live in its own virtualenv).

Usage: ``python benchmarks/bench_run.py [--repeat N] [--skip-large]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # installed packages have bytecode; measure with it
BIN = Path(sys.executable).parent


def cell(source: str, *tags: str):
    c = nbformat.v4.new_code_cell(source)
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def write_notebook(path: Path, cells: list) -> None:
    """A Python 3 notebook holding ``cells``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = cells
    nbformat.write(nb, str(path))


def four_step_notebook(path: Path) -> None:
    write_notebook(
        path,
        [
            cell("n_samples = 2000\nn_estimators = 50", "parameters"),
            cell(
                "import numpy as np\nimport pandas as pd\nfrom sklearn.ensemble import RandomForestClassifier\n"
                "from sklearn.model_selection import train_test_split",
                "imports",
            ),
            cell(
                "rng = np.random.default_rng(0)\n"
                "df = pd.DataFrame(rng.normal(size=(n_samples, 8)), columns=[f'x{i}' for i in range(8)])\n"
                "df['y'] = (df.x0 + df.x1 * 2 > 0).astype(int)",
                "step:make",
            ),
            cell(
                "df['x0x1'] = df.x0 * df.x1\nX = df.drop(columns='y')\ny = df.y\n"
                "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)",
                "step:featurize",
            ),
            cell(
                "clf = RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(X_train, y_train)",
                "step:train",
                "model:clf",
            ),
            cell("accuracy = float((clf.predict(X_test) == y_test).mean())", "step:evaluate"),
            cell("accuracy", "metrics"),
        ],
    )


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def mlops(*args: str) -> list[str]:
    return [sys.executable, "-m", "jupyter_mlops.cli.app", *args]


def bench_pipeline(work: Path, repeat: int) -> dict[str, float]:
    """Print and return the medians (seconds) of papermill and our runs (and Ploomber's)."""
    nb = work / "four.ipynb"
    four_step_notebook(nb)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    papermill = [str(BIN / "papermill"), "--no-progress-bar", str(nb), str(work / "pm-out.ipynb")]
    timed(papermill, work, env)  # warm the OS caches once
    pm, fresh, noop, edit_last = [], [], [], []
    for i in range(repeat):
        store = work / f"store{i}"
        pm.append(timed(papermill, work, env))
        fresh.append(timed(mlops("run", str(nb), "--store", str(store)), work, env))
        noop.append(timed(mlops("run", str(nb), "--store", str(store)), work, env))
        edited = nbformat.read(str(nb), as_version=4)
        edited.cells[
            5
        ].source = f"accuracy = float((clf.predict(X_test) == y_test).mean()) + 0 * {i}"
        nbformat.write(edited, str(nb))
        edit_last.append(timed(mlops("run", str(nb), "--store", str(store)), work, env))
        four_step_notebook(nb)
    med = statistics.median
    print(f"4-step pandas+sklearn notebook, median of {repeat}:")
    print(f"  papermill, whole notebook        {med(pm):6.2f} s   (1.00×)")
    print(
        f"  jupyter mlops run, fresh          {med(fresh):6.2f} s   ({med(fresh) / med(pm):.2f}× papermill; target ≤ 1.25×)"
    )
    print(f"  jupyter mlops run, no-op re-run   {med(noop):6.2f} s   (target ≤ 0.5 s)")
    print(
        f"  jupyter mlops run, last step edit {med(edit_last):6.2f} s   ({med(edit_last) / med(pm):.2f}× papermill; target ≤ 1.0×)"
    )
    isolate = timed(mlops("run", str(nb), "--store", str(work / "iso"), "--isolate"), work, env)
    print(
        f"  jupyter mlops run --isolate       {isolate:6.2f} s   ({isolate / med(pm):.2f}× papermill)"
    )
    ploomber = os.environ.get("PLOOMBER") or shutil.which("ploomber", path=str(BIN))
    ploomber = ploomber or shutil.which("ploomber")
    results = {"papermill": med(pm), "fresh": med(fresh), "noop": med(noop),
               "edit_last": med(edit_last), "isolate": isolate}  # fmt: skip
    if ploomber:
        found = bench_ploomber(work / "ploomber", ploomber, med(pm), repeat)
        results.update({f"ploomber_{k}": v for k, v in found.items()})
    else:
        print("  Ploomber not installed (set PLOOMBER=/path/to/ploomber to compare)")
    return results


PLOOMBER_TASKS = {
    "make": (
        None,
        "rng = np.random.default_rng(0)\n"
        "df = pd.DataFrame(rng.normal(size=(n_samples, 8)), columns=[f'x{i}' for i in range(8)])\n"
        "df['y'] = (df.x0 + df.x1 * 2 > 0).astype(int)\nout = {'df': df}",
    ),
    "featurize": (
        "make",
        "df = inp['df']\ndf['x0x1'] = df.x0 * df.x1\nX = df.drop(columns='y')\ny = df.y\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
        "out = dict(X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test)",
    ),
    "train": (
        "featurize",
        "clf = RandomForestClassifier(n_estimators=n_estimators, random_state=0)"
        ".fit(inp['X_train'], inp['y_train'])\nout = dict(inp, clf=clf)",
    ),
    "evaluate": (
        "train",
        "accuracy = float((inp['clf'].predict(inp['X_test']) == inp['y_test']).mean())\n"
        "out = {'accuracy': accuracy}",
    ),
}


def _ploomber_task(name: str, upstream: str | None, body: str, salt: str = "") -> str:
    loader = (
        f"with open(upstream[{upstream!r}]['data'], 'rb') as fh:\n    inp = pickle.load(fh)\n"
        if upstream
        else ""
    )
    return (
        "# %% tags=['parameters']\n"
        f"upstream = {[upstream] if upstream else None!r}\nproduct = None\n"
        "n_samples = 2000\nn_estimators = 50\n\n"
        "# %%\nimport pickle\nimport numpy as np\nimport pandas as pd\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "from sklearn.model_selection import train_test_split\n\n"
        f"# %%\n{loader}{body}{salt}\n"
        "with open(product['data'], 'wb') as fh:\n    pickle.dump(out, fh)\n"
    )


def bench_ploomber(
    project: Path, ploomber: str, papermill_s: float, repeat: int
) -> dict[str, float]:
    """The same 4 steps as a Ploomber project (scripts run as notebooks by papermill)."""
    fresh, noop, edit_last = [], [], []
    for i in range(repeat):
        if project.exists():
            shutil.rmtree(project)
        project.mkdir(parents=True)
        tasks = []
        for name, (upstream, body) in PLOOMBER_TASKS.items():
            (project / f"{name}.py").write_text(_ploomber_task(name, upstream, body))
            tasks.append(
                f"  - source: {name}.py\n    product:\n      nb: output/{name}.ipynb\n"
                f"      data: output/{name}.pkl\n"
            )
        (project / "pipeline.yaml").write_text("tasks:\n" + "".join(tasks))
        build = [ploomber, "build", "--force"]
        fresh.append(timed(build, project))
        noop.append(timed([ploomber, "build"], project))
        upstream, body = PLOOMBER_TASKS["evaluate"]
        (project / "evaluate.py").write_text(
            _ploomber_task("evaluate", upstream, body, f"\nedited = {i}")
        )
        edit_last.append(timed([ploomber, "build"], project))
    med = statistics.median
    print(
        f"  Ploomber build, fresh             {med(fresh):6.2f} s   ({med(fresh) / papermill_s:.2f}× papermill)"
    )
    print(f"  Ploomber build, no-op             {med(noop):6.2f} s")
    print(
        f"  Ploomber build, last task edit    {med(edit_last):6.2f} s   ({med(edit_last) / papermill_s:.2f}× papermill)"
    )
    return {"fresh": med(fresh), "noop": med(noop), "edit_last": med(edit_last)}


def bench_large(work: Path, gigabytes: float = 1.0) -> dict[str, float]:
    """Print and return the GB/s of passing a ``gigabytes`` numpy array between two steps."""
    nb_path = work / "large.ipynb"
    n = int(gigabytes * 125_000_000)
    speeds = {}
    write_notebook(
        nb_path,
        [
            cell("import numpy as np\nimport time", "setup"),
            cell(
                f"big = np.ones({n})  # {gigabytes:g} GB of float64\nt_made = time.time()",
                "step:make",
            ),
            cell("t_used = time.time()\ntotal = float(big[::1000].sum())", "step:use"),
            cell("t_made\nt_used", "metrics"),
        ],
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for label, extra in (("same kernel", []), ("--isolate", ["--isolate"])):
        store = work / f"large-{label.strip('-')}"
        out = subprocess.run(
            mlops("run", str(nb_path), "--store", str(store), "--json", *extra),
            cwd=work,
            capture_output=True,
            text=True,
            env=env,
        )
        if out.returncode != 0:
            raise SystemExit(out.stderr[-2000:])
        metrics = json.loads(out.stdout)["metrics"]
        gap = metrics["t_used"] - metrics["t_made"]
        print(
            f"  {gigabytes:g} GB numpy array, {label:<11}: {gap:5.2f} s from end of producer code to consumer code"
            f" = {gigabytes / gap:5.2f} GB/s (target ≥ 1 GB/s)"
        )
        speeds[label] = gigabytes / gap
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(
        dir=os.environ.get("BENCH_TMP", "/work" if os.path.isdir("/work") else None)
    ) as tmp:
        bench_pipeline(Path(tmp), args.repeat)
        if not args.skip_large:
            bench_large(Path(tmp))


if __name__ == "__main__":
    main()
