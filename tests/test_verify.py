"""``jupyter mlops verify``: the notebook top to bottom vs its pipeline (isolated steps), with
real kernels. Each failing case names the variable, the step and the cause."""

from __future__ import annotations

import json
import shutil

import pytest
from runner_fixtures import REPO, code, markdown, mlops, write_notebook

from jupyter_mlops.service import MlopsService

pytestmark = pytest.mark.slow


def verify(nb, **kwargs) -> dict:
    return MlopsService.create().verify(str(nb), **kwargs)


def test_unseeded_randomness_fails_naming_variable_step_and_cause(tmp_path):
    nb = write_notebook(
        tmp_path / "draw.ipynb",
        [
            code("factor = 1", "parameters"),
            code("import random", "setup"),
            code("r = random.random() * factor", "step:draw"),
            code("r", "metrics"),
        ],
    )
    proc = mlops("verify", str(nb), "-p", "factor", "3", "--json")
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["equal"] is False
    difference = result["difference"]
    assert (difference["variable"], difference["step"]) == ("r", "draw")
    assert float(difference["notebook_value"]) != float(difference["pipeline_value"])
    assert difference["cause"].startswith("unseeded randomness: step 'draw' draws random")
    assert "random.random" in difference["cause"] and "seed" in difference["fix"]
    assert result["message"].startswith("differs: variable 'r' after step 'draw': notebook ")
    assert set(result["seconds"]) == {"notebook", "pipeline", "wall"}
    assert not list(tmp_path.glob(".mlops"))  # the user's project got no store and no run


def test_an_in_place_change_through_a_helper_fails_naming_the_helper(tmp_path):
    nb = write_notebook(
        tmp_path / "helper.ipynb",
        [
            code("start = 1", "parameters"),
            code("def add_item(items):\n    items.append(3)", "setup"),
            markdown("## Load"),
            code("lst = [start, 2]", "step:load"),
            code("add_item(lst)\nflag = True", "step:middle"),
            code("total = sum(lst)", "step:use"),
        ],
    )
    before = nb.read_bytes()
    result = verify(nb, parameters={"start": 7})
    assert result["equal"] is False
    assert result["difference"]["variable"] == "lst"
    assert result["difference"]["step"] == "use"
    assert result["difference"]["notebook_value"] == "[7, 2, 3]"
    assert result["difference"]["pipeline_value"] == "[7, 2]"
    assert "passes 'lst' to add_item(), which changes it in place" in result["difference"]["cause"]
    assert "lst = add_item(lst" in result["difference"]["fix"]
    assert result["message"] == (
        "differs: variable 'lst' (length 3 vs 2) read by step 'use': notebook [7, 2, 3] vs "
        "pipeline [7, 2]"
    )
    assert nb.read_bytes() == before  # the user's notebook is never touched


def test_a_global_that_a_later_cell_changes_fails_naming_it(tmp_path):
    nb = write_notebook(
        tmp_path / "global.ipynb",
        [
            code("scale = 2\ndef f(x):\n    return x * scale", "step:define"),
            code("scale = 10", "step:change"),
            code("y = f(3)", "step:use"),
            code("y", "metrics"),
        ],
    )
    result = verify(nb)
    assert result["equal"] is False
    difference = result["difference"]
    assert (difference["variable"], difference["step"]) == ("y", "use")
    assert (difference["notebook_value"], difference["pipeline_value"]) == ("30", "6")
    assert "reads the global 'scale'" in difference["cause"]
    assert "cell 2 (step 'change') changes 'scale'" in difference["cause"]
    assert "pass 'scale' to f as an argument" in difference["fix"]


def test_the_soorgeon_counter_example_passes_and_tolerance_is_used(tmp_path):
    """A list appended to in a middle section and read later: the pipeline sees the change
    (the in-place write is the compiler's); floats within the tolerance are equal."""
    nb = write_notebook(
        tmp_path / "soorgeon.ipynb",
        [
            markdown("## Load"),
            code("lst = [1, 2]\nimport time\nstamp = time.time() % 1e-3"),
            markdown("## Middle"),
            code("lst.append(3)"),
            markdown("## Use"),
            code("total = sum(lst) + stamp"),
            code("total", "metrics"),
        ],
    )
    MlopsService.create().split_write(str(nb))
    result = verify(nb, tolerance=1e-2)
    assert result["equal"] is True, result
    assert result["compared"] == {"variables": 8, "steps": 3, "metrics": 1}
    assert result["message"] == "equal: 8 variables in 3 steps and 1 metric"
    strict = verify(nb, tolerance=0)
    assert strict["equal"] is False
    assert strict["difference"]["variable"] == "stamp"
    assert "reads the clock (time.time" in strict["difference"]["cause"]


def test_a_failing_notebook_is_a_difference_naming_the_cell_without_secrets(tmp_path):
    nb = write_notebook(
        tmp_path / "fails.ipynb",
        [
            code('token = ""', "parameters", "secret:token"),
            code("a = 1", "step:one"),
            code("b = a / 0 if token else 0", "step:two"),
            code("raise ValueError('bad token ' + token)", "step:three"),
        ],
    )
    result = verify(nb, parameters={"token": "s3cr3t-value"})
    assert result["equal"] is False and result["difference"] is None
    assert result["message"].startswith("not compared: the notebook failed at cell 3: ")
    assert "ZeroDivisionError" in result["message"]
    nb.write_text(nb.read_text().replace("a / 0 if token else 0", "a"))
    result = verify(nb, parameters={"token": "s3cr3t-value"})
    assert result["message"] == (
        "not compared: the notebook failed at cell 4: ValueError: bad token <secret>"
    )


def test_an_example_passes(tmp_path):
    nb = shutil.copy(REPO / "examples" / "diabetes_regression.ipynb", tmp_path / "d.ipynb")
    proc = mlops("verify", str(nb), timeout=600)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stdout.startswith("equal: ")
    assert "2 metrics" in proc.stdout
