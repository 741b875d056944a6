"""Notebooks and helpers of the schedule tests (stdlib notebooks; one scikit-learn one for
champion/challenger)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from runner_fixtures import code, mlops, write_notebook


def stdlib_notebook(path: Path) -> Path:
    """Reads ``data.csv`` next to it (the first step), sums a column; ``fail`` fails a step;
    the "model" is a dict (publishable through the gates; refused ones never load it)."""
    if not (path.parent / "data.csv").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "data.csv").write_text("x\n1\n2\n")
    return write_notebook(
        path,
        [
            code("scale = 1\nfail = False", "parameters"),
            code("rows = open('data.csv').read().split()[1:]", "step:load"),
            code(
                "total = sum(int(r) for r in rows) * scale\nassert not fail, 'asked to fail'",
                "step:score",
            ),  # fmt: skip
            code("model = {'total': total}", "step:model", "model:model"),
            code("total", "metrics"),
        ],
    )


def sklearn_notebook(path: Path) -> Path:
    """Iris with ``noise`` (a fraction of shuffled training labels): a worse challenger."""
    return write_notebook(
        path,
        [
            code("noise = 0.0", "parameters"),
            code(
                "from sklearn.datasets import load_iris\n"
                "from sklearn.linear_model import LogisticRegression\nimport random",
                "imports",
            ),  # fmt: skip
            code(
                "X, y = load_iris(return_X_y=True, as_frame=True)\n"
                "y = y.copy()\nrng = random.Random(0)\n"
                "for i in rng.sample(range(len(y)), int(noise * len(y))):\n"
                "    y.iloc[i] = (y.iloc[i] + 1) % 3",
                "step:load",
            ),  # fmt: skip
            code(
                "clf = LogisticRegression(max_iter=300).fit(X, y)\n"
                "X_true, y_true = load_iris(return_X_y=True, as_frame=True)\n"
                "accuracy = float(clf.score(X_true, y_true))",
                "step:train",
                "model:clf",
                "example:X[:3]",
            ),  # fmt: skip
            code("accuracy", "metrics"),
        ],
    )


def firings(store: Path, schedule_id: str | None = None) -> list[dict]:
    """The firing rows, oldest slot first (read straight from the store)."""
    db = sqlite3.connect(store / "runs.db")
    db.row_factory = sqlite3.Row
    try:
        sql = "SELECT * FROM schedule_firings"
        rows = db.execute(sql + (" WHERE schedule_id = ?" if schedule_id else "") + " ORDER BY"
                          " slot", (schedule_id,) if schedule_id else ()).fetchall()  # fmt: skip
    finally:
        db.close()
    return [{**dict(r), "outcome": json.loads(r["outcome"]) if r["outcome"] else None}
            for r in rows]  # fmt: skip


def wait_until(check, timeout: float = 120, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def schedule_add(nb: Path, store: Path, *args: str) -> dict:
    done = mlops("schedule", "add", str(nb), "--store", str(store), *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def active_runs(store: Path) -> int:
    db = sqlite3.connect(store / "runs.db")
    try:
        return db.execute(
            "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')"
        ).fetchone()[0]
    finally:
        db.close()
