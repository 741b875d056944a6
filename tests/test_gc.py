"""``jupyter mlops gc``: frees the bytes of dropped runs, keeps what kept and published runs
need (re-running them still hits the cache), in a store that can be moved."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from runner_fixtures import code, mlops, run_json, statuses, write_notebook

from jupyter_mlops import run_pipeline
from jupyter_mlops.runner.store import Store


def files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def gc(store: Path, *args: str) -> dict:
    proc = mlops("gc", *args, "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_gc_frees_dropped_runs_and_keeps_what_kept_runs_need(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "blob.ipynb",
        [
            code("p = 1", "parameters"),
            code("blob = (str(p) * 200_000).encode()", "step:make"),
            code("n = len(blob)", "step:count"),
            code("n", "metrics"),
        ],
    )
    store = tmp_path / "store"
    first = run_pipeline(nb, {"p": 1}, store=store, report="none")
    # the runner's public record is exactly what `show --json` prints
    shown = mlops("show", first.id, "--store", str(store), "--json")
    assert json.loads(shown.stdout) == first.to_dict()
    runs = {1: first.id}
    for p in (2, 3):
        code_, record, stderr = run_json(str(nb), "-p", "p", str(p), "--store", str(store))
        assert code_ == 0, stderr
        runs[p] = record["id"]
    for p in (2, 3):  # the CLI writes reports in the background: let them land first
        report = store / "runs" / runs[p] / "report.html"
        deadline = time.monotonic() + 120
        while not report.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    with Store.open(store) as db:
        db.add_published(runs[1], "blob", "1", "sqlite:///elsewhere.db")  # as publish does
        blob2 = Path(db.get_run(runs[2])["run_dir"])
        digest2 = db.get_run(runs[2])["steps"]["make"]["outputs"]["blob"]
        digest1 = db.get_run(runs[1])["steps"]["make"]["outputs"]["blob"]

    before = files(store)
    dry = gc(store, "--keep", "1", "--dry-run")
    assert files(store) == before
    assert dry["runs"] == [runs[2]] and dry["dry_run"] and dry["bytes"] > 200_000

    done = gc(store, "--keep", "1")
    after = files(store)
    gone = {name: size for name, size in before.items() if name not in after}
    assert done["runs"] == [runs[2]] and not done["dry_run"]
    assert done["bytes"] == dry["bytes"] == sum(gone.values())
    assert not blob2.exists()
    assert f"artifacts/{digest2[:2]}/{digest2}" in gone
    assert f"artifacts/{digest1[:2]}/{digest1}" in after
    listed = json.loads(mlops("runs", "--store", str(store), "--json").stdout)
    assert {r["id"] for r in listed} == {runs[1], runs[3]}
    assert gc(store)["runs"] == [] and gc(store)["bytes"] == 0  # nothing else to free

    # the store can be moved: paths inside it are relative
    moved = tmp_path / "moved" / "store"
    moved.parent.mkdir()
    shutil.move(store, moved)
    for p in (1, 3):  # kept (published, newest): still served from the cache
        code_, record, stderr = run_json(str(nb), "-p", "p", str(p), "--store", str(moved))
        assert code_ == 0, stderr
        assert statuses(record) == {"make": "cached", "count": "cached"}
    code_, record, stderr = run_json(str(nb), "-p", "p", "2", "--store", str(moved))
    assert statuses(record) == {"make": "succeeded", "count": "succeeded"}  # dropped


def test_gc_options_are_validated(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with Store.open(store) as db:
        run_id = db.create_run("/nb.ipynb", "0" * 64, {}, ["a"], {})
        db.update_run(run_id, status="succeeded")
        db.release_run(run_id)
    bad = mlops("gc", "--older-than", "3 parsecs", "--store", str(store))
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: --older-than '3 parsecs': give a number and a unit, e.g. 45s, 90m, 12h, 30d or 2w"
    )
    negative = mlops("gc", "--keep", "-1", "--store", str(store))
    assert negative.returncode == 2 and "--keep must be 0 or more" in negative.stderr
    empty = mlops("gc", "--keep", "-1", "--store", str(store.parent / "no-store-here"))
    assert empty.returncode == 2 and "--keep must be 0 or more" in empty.stderr
    assert gc(store, "--older-than", "1h")["runs"] == []  # younger than an hour: kept
    text = mlops("gc", "--older-than", "0s", "--store", str(store))
    assert text.returncode == 0
    assert text.stdout.startswith("removed 1 run(s) and 0 artifact(s), kept 0 run(s); freed ")
