"""Fault campaign findings that need a real run: errors name the right cell, a step that
exits fails cleanly, a finished run has no unfinished steps, parameters that papermill's
layout or a user's names could break arrive exactly, open files are never passed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from runner_fixtures import code, markdown, mlops, run_json, statuses, write_notebook

from jupyter_mlops import run_pipeline
from jupyter_mlops.runner.store import Store

pytestmark = pytest.mark.slow


def _no_unfinished(record: dict) -> None:
    assert record["status"] not in ("queued", "running")
    assert not [n for n, s in record["steps"].items() if s["status"] in ("queued", "running")]


def _strict_json(text: str) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_errors_name_the_users_cell_or_our_generated_cell(tmp_path: Path) -> None:
    """B2: a step that reads a parameter (so it has an injected-parameters cell) reports the
    user's cell exactly; a failure in our save cell is named as ours, not as a user cell."""
    nb = write_notebook(
        tmp_path / "cells.ipynb",
        [
            markdown("# cells"),
            code("ratio = 0.5", "parameters"),
            code("x = [1, 2]", "step:a"),
            code("y = 1 / (ratio - 5.0)"),  # cell index 3
            code("gen = (i for i in range(3))", "step:b"),
            code("total = sum(gen)", "step:c"),
        ],
    )
    rc, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), "-p", "ratio", "5.0")
    assert rc == 1, stderr
    assert "Traceback" not in stderr
    assert statuses(record) == {"a": "failed", "b": "failed", "c": "skipped"}
    a, b = record["steps"]["a"]["error"], record["steps"]["b"]["error"]
    assert (a["cell"], a["ename"], a["generated"]) == (3, "ZeroDivisionError", None)
    assert (b["cell"], b["ename"], b["generated"]) == (None, "PassError", "outputs")
    assert "variable 'gen' of type generator cannot be passed" in b["evalue"]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert errors[0].startswith("error: step 'a' failed in cell 4: ZeroDivisionError: ")
    assert errors[1].startswith(
        "error: step 'b' failed in jupyter-mlops's generated cell that saves the step's "
        "outputs, metrics and example: PassError: variable 'gen'"
    )
    executed = json.loads(Path(record["steps"]["a"]["notebook"]).read_text())
    failed = [c for c in executed["cells"] if c["metadata"].get("papermill", {}).get("exception")]
    assert failed[0]["metadata"]["mlops"]["source_cell"] == 3  # the executed cell is cell 3
    _no_unfinished(record)


def test_sys_exit_and_exit_fail_their_step(tmp_path: Path) -> None:
    """B3: sys.exit(0) (which papermill takes for success) and exit()/quit() (which would
    stop the kernel after the cell) fail their step with a clear error; no traceback, no
    step left queued or running."""
    nb = write_notebook(
        tmp_path / "exits.ipynb",
        [
            code("n = 3", "parameters"),
            code("import sys\nx = n", "step:a"),
            code("sys.exit(0)"),  # cell index 2
            code("y = 1"),
            code("z = x + 1", "step:b"),
            code("w = 5", "step:c"),
            code("quit()"),  # cell index 6
        ],
    )
    store = tmp_path / "s"
    rc, record, stderr = run_json(str(nb), "--store", str(store), "--jobs", "1")
    assert rc == 1, stderr
    assert "Traceback" not in stderr and "FileNotFoundError" not in stderr
    assert statuses(record) == {"a": "failed", "b": "skipped", "c": "failed"}
    a, c = record["steps"]["a"]["error"], record["steps"]["c"]["error"]
    assert (a["cell"], a["ename"]) == (2, "SystemExit")
    assert "sys.exit() stops the step before its outputs are saved" in a["evalue"]
    assert (c["cell"], c["ename"]) == (6, "StepExited")
    assert "exit() and quit() would shut the kernel down" in c["evalue"]
    assert "error: step 'a' failed in cell 3: SystemExit: sys.exit()" in stderr
    assert "error: step 'c' failed in cell 7: StepExited: exit() and quit()" in stderr
    assert record["status"] == "failed"
    _no_unfinished(record)
    shown = mlops("show", record["id"], "--store", str(store), "--json")
    assert shown.returncode == 0
    _no_unfinished(_strict_json(shown.stdout))


class ListenerBroke(Exception):
    pass


def test_a_run_ended_by_an_exception_has_no_unfinished_steps(tmp_path: Path) -> None:
    """B3 invariant, whatever ends the run: here a progress callback that raises."""
    nb = write_notebook(
        tmp_path / "two.ipynb", [code("x = 1", "step:a"), code("y = x + 1", "step:b")]
    )

    def listener(kind: str, name: str, info: dict) -> None:
        if kind == "step" and name == "a" and info["status"] == "succeeded":
            raise ListenerBroke("the listener broke")

    store = tmp_path / "s"
    with pytest.raises(ListenerBroke):
        run_pipeline(nb, store=store, report="none", on_event=listener)
    with Store.open(store) as db:
        (record,) = db.list_runs()
    assert record["status"] == "failed"
    assert statuses(record) == {"a": "succeeded", "b": "skipped"}
    _no_unfinished(record)


def test_floats_and_shadowed_names_arrive_exactly(tmp_path: Path) -> None:
    """B5 + smaller findings: a 1e999 default, -0.0, `-p ratio nan`, and parameters named
    like the builtins our generated cells could have used (globals, float, open, ...)."""
    nb = write_notebook(
        tmp_path / "floats.ipynb",
        [
            code(
                "globals = 1\nopen = 'o'\nfloat = 2.5\ndict = {'k': 'v'}\nprint = 'p'\n"
                "getattr = None\nbig = 1e999\nneg = -1e999\nzero = -0.0\nratio = 0.5",
                "parameters",
            ),
            code(
                "import math as m\n"
                "checks = [globals == 1, open == 'o', float == 2.5, dict == {'k': 'v'},\n"
                "          print == 'p', getattr is None, big == m.inf, neg == -m.inf,\n"
                "          m.copysign(1, zero) == -1, m.isnan(ratio)]\n"
                "carried = [big, neg, ratio]",
                "step:a",
            ),
            code("passed = sum(checks)\nhow_many = len(carried)", "step:b"),
            code("passed\nhow_many\nratio_seen", "metrics"),
            code("ratio_seen = carried[2]", "step:c"),
        ],
    )
    store = tmp_path / "s"
    rc, record, stderr = run_json(str(nb), "--store", str(store), "-p", "ratio", "nan")
    assert rc == 0, stderr
    assert record["metrics"] == {"passed": 10, "how_many": 3, "ratio_seen": None}
    params = record["parameters"]
    assert (params["big"], params["neg"], params["ratio"]) == ("Infinity", "-Infinity", "NaN")
    shown = mlops("show", record["id"], "--store", str(store), "--json")
    assert _strict_json(shown.stdout)["parameters"]["ratio"] == "NaN"
    listed = mlops("runs", "--store", str(store), "--json")
    assert _strict_json(listed.stdout)[0]["parameters"]["big"] == "Infinity"
    compiled = mlops("compile", str(nb), "--json")
    assert _strict_json(compiled.stdout)["parameters"]["big"]["default"] == "Infinity"
    with Store.open(store) as db:  # the store keeps the floats themselves
        kept = db.get_run(record["id"])["parameters"]
    assert kept["big"] == math.inf and math.isnan(kept["ratio"])


@pytest.mark.parametrize("isolate", [False, True])
def test_a_file_open_for_reading_is_not_passed(tmp_path: Path, isolate: bool) -> None:
    """Smaller finding: refused like files opened for writing, in both kernel modes."""
    data = tmp_path / "data.txt"
    data.write_text("hello\n")
    nb = write_notebook(
        tmp_path / "files.ipynb",
        [code(f"fh = open({str(data)!r})", "step:a"), code("text = fh.read()", "step:b")],
    )
    args = ["--isolate"] if isolate else []
    rc, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), *args)
    assert rc == 1, stderr
    assert statuses(record) == {"a": "failed", "b": "skipped"}
    error = record["steps"]["a"]["error"]
    assert error["generated"] == "outputs" and error["ename"] == "PassError"
    assert "variable 'fh' of type _io.TextIOWrapper cannot be passed" in error["evalue"]
    assert "an open file" in error["evalue"]


def test_setup_cells_may_read_parameters(tmp_path: Path) -> None:
    """Setup cells run after the parameters are bound (they used to run before them)."""
    nb = write_notebook(
        tmp_path / "setup.ipynb",
        [
            code("scale = 2", "parameters"),
            code("factor = scale * 10", "setup"),
            code("y = factor + 1", "step:a"),
            code("y", "metrics"),
        ],
    )
    rc, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), "-p", "scale", "3")
    assert rc == 0, stderr
    assert record["metrics"] == {"y": 31}
