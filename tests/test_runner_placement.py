"""The same results whatever the kernel placement: ``--jobs 1``, ``--jobs 2``, ``--isolate``.

Visible in-place writes (``clf.fit(X, y)``, ``lst.append(...)``) pass the changed value on,
as in the notebook; a change the compiler cannot see (a setup helper mutating its argument)
never reaches another step; names a step did not declare do not leak in from earlier steps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from runner_fixtures import code, run_json, statuses, write_notebook

MODES = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "isolate": ["--isolate"]}


def in_place_notebook(tmp_path: Path) -> Path:
    return write_notebook(
        tmp_path / "inplace.ipynb",
        [
            code("import time\nfrom sklearn.linear_model import LogisticRegression", "imports"),
            code(
                "clf = LogisticRegression()\nX = [[0.0], [1.0], [2.0], [3.0]]\ny = [0, 0, 1, 1]\n"
                "lst = [1]",
                "step:build",
            ),
            code("clf.fit(X, y)\nlst.append(2)", "step:fit"),
            code("time.sleep(0.5)\nside = len(X)", "step:side"),  # a parallel branch
            code(
                "pred = [int(v) for v in clf.predict(X)]\ncorrect = sum(p == t for p, t in "
                "zip(pred, y))\nn_lst = len(lst) + 0 * side",
                "step:use",
            ),
            code("correct\nn_lst", "metrics"),
        ],
    )


@pytest.mark.parametrize("mode", list(MODES))
def test_fit_and_append_in_a_middle_step_reach_later_steps_in_every_mode(
    tmp_path: Path, mode: str
) -> None:
    nb = in_place_notebook(tmp_path)
    rc, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), *MODES[mode])
    assert rc == 0, stderr
    assert record["metrics"] == {"correct": 4, "n_lst": 2}, record


def invisible_notebook(tmp_path: Path) -> Path:
    return write_notebook(
        tmp_path / "invisible.ipynb",
        [
            code(
                "import time\n\ndef scramble(d):\n    d['seen'] = 'mutated'\n    return len(d)",
                "setup",
            ),
            code("data = {'seen': 'original'}\nscratch = 1", "step:make"),
            code("n = scramble(data)\nb_mutated = int(data['seen'] == 'mutated')", "step:b"),
            # a branch slower than b: with --jobs 2 (and before the fix) c then ran after b, in
            # b's kernel
            code("time.sleep(2.0)\ns = len(data)", "step:slow"),
            code(
                "c_original = int(data['seen'] == 'original')\n"
                "c_stale = int('scratch' in globals() or 'n' in globals())",
                "step:c",
                "prev:slow",
            ),
            code("b_mutated\nc_original\nc_stale", "metrics"),
        ],
    )


@pytest.mark.parametrize("mode", list(MODES))
def test_a_change_the_compiler_cannot_see_never_reaches_a_sibling(
    tmp_path: Path, mode: str
) -> None:
    nb = invisible_notebook(tmp_path)
    for _ in range(2):  # repeated runs (no cache: every step executes)
        rc, record, stderr = run_json(
            str(nb), "--store", str(tmp_path / "s"), "--no-cache", *MODES[mode]
        )
        assert rc == 0, stderr
        assert set(statuses(record).values()) == {"succeeded"}
        assert record["metrics"] == {"b_mutated": 1, "c_original": 1, "c_stale": 0}, record


def test_a_value_deleted_by_a_later_step_is_freed(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "free.ipynb",
        [
            code("import gc\nimport weakref\n\nclass Box:\n    pass", "setup"),
            code("box = Box()", "step:make"),
            code(
                "ref = weakref.ref(box)\ndel box\ngc.collect()\nfreed = int(ref() is None)",
                "step:drop",
            ),
            code("freed", "metrics"),
        ],
    )
    rc, record, stderr = run_json(str(nb), "--store", str(tmp_path / "s"), "--jobs", "1")
    assert rc == 0, stderr
    assert record["metrics"] == {"freed": 1}
