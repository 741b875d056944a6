"""Content-hash caching across runs, with real kernels."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from runner_fixtures import code, markdown, run_json, statuses, write_notebook

from jupyter_mlops import run_pipeline


@pytest.fixture
def four_steps(tmp_path: Path) -> Path:
    return write_notebook(
        tmp_path / "four.ipynb",
        [
            markdown("# Four steps"),
            code("n = 5\nlr = 0.5", "parameters"),
            code("import random", "setup"),
            code("data = list(range(n))", "step:make"),
            code("# featurize\nfeatures = [x * 2 for x in data]", "step:featurize"),
            code("model = sum(features) * lr", "step:train"),
            code("score = model + len(data)", "step:evaluate"),
            code("score", "metrics"),
        ],
    )


def _edit(path: Path, index: int, source: str) -> None:
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[index].source = source
    nbformat.write(nb, str(path))


def _run(nb: Path, store: Path, *args: str) -> dict:
    code_, record, stderr = run_json(str(nb), "--store", str(store), *args)
    assert code_ == 0, stderr
    return record


def test_second_run_is_all_cached(four_steps: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    first = _run(four_steps, store)
    assert set(statuses(first).values()) == {"succeeded"}
    second = _run(four_steps, store)
    assert set(statuses(second).values()) == {"cached"}
    assert second["metrics"] == first["metrics"] == {"score": 15.0}
    for name, step in second["steps"].items():
        assert step["notebook"] == first["steps"][name]["notebook"]
        assert step["cached_from"] == first["id"]


def test_comment_blank_and_markdown_edits_keep_the_cache(four_steps: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    _run(four_steps, store)
    _edit(four_steps, 4, "# featurize: doubled\n\nfeatures = [x * 2 for x in data]  # twice\n")
    _edit(four_steps, 0, "# Four steps, documented better")
    _edit(four_steps, 2, "import random  # setup comment")
    again = _run(four_steps, store)
    assert set(statuses(again).values()) == {"cached"}


def test_code_edit_reruns_the_step_and_its_dependents(four_steps: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    _run(four_steps, store)
    _edit(four_steps, 4, "features = [x * 3 for x in data]")
    again = _run(four_steps, store)
    assert statuses(again) == {
        "make": "cached",
        "featurize": "succeeded",
        "train": "succeeded",
        "evaluate": "succeeded",
    }
    assert again["metrics"] == {"score": 20.0}


def test_parameter_change_reruns_only_its_readers(four_steps: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    _run(four_steps, store)
    again = _run(four_steps, store, "-p", "lr", "1.0")
    assert statuses(again) == {
        "make": "cached",
        "featurize": "cached",
        "train": "succeeded",
        "evaluate": "succeeded",
    }
    assert again["metrics"] == {"score": 25.0}


def test_same_output_content_keeps_downstream_cached(four_steps: Path, tmp_path: Path) -> None:
    """A changed step that produces identical data does not invalidate its dependents."""
    store = tmp_path / "s"
    _run(four_steps, store)
    _edit(four_steps, 4, "features = [x + x for x in data]")
    again = _run(four_steps, store)
    assert statuses(again) == {
        "make": "cached",
        "featurize": "succeeded",
        "train": "cached",
        "evaluate": "cached",
    }


def test_no_cache_and_cache_disabled(four_steps: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    _run(four_steps, store)
    forced = _run(four_steps, store, "--no-cache")
    assert set(statuses(forced).values()) == {"succeeded"}
    nb = nbformat.read(str(four_steps), as_version=4)
    nb.cells[5].metadata["tags"] = ["step:train", "cache:disabled"]
    nbformat.write(nb, str(four_steps))
    again = _run(four_steps, store)
    assert statuses(again)["make"] == "cached"
    assert statuses(again)["train"] == "succeeded"
    assert statuses(again)["evaluate"] == "cached"  # same model value, same digest


def test_user_notebook_is_never_modified(four_steps: Path, tmp_path: Path) -> None:
    before = four_steps.read_bytes()
    run_pipeline(four_steps, {"n": 3}, store=tmp_path / "s", report="sync")
    run_pipeline(four_steps, store=tmp_path / "s", isolate=True, report="none")
    assert four_steps.read_bytes() == before


def test_large_values_written_in_the_background_are_passed_and_cached(tmp_path: Path) -> None:
    """≥ 64 MiB: staged in memory for the next (fresh) kernel, then stored and cached."""
    from jupyter_mlops.serialization import staging_path

    nb = write_notebook(
        tmp_path / "big.ipynb",
        [
            code("import numpy as np", "setup"),
            code("big = np.arange(10_000_000, dtype='float64')", "step:make"),
            code("total = float(big.sum())", "step:use"),
            code("total", "metrics"),
        ],
    )
    store = tmp_path / "s"
    first = _run(nb, store, "--isolate")
    assert first["metrics"] == {"total": float(sum(range(10_000_000)))}
    digest = first["steps"]["make"]["outputs"]["big"]
    assert (store / "artifacts" / digest[:2] / digest).stat().st_size > 80_000_000
    assert not staging_path(store / "artifacts" / digest[:2] / digest).exists()
    again = _run(nb, store, "--isolate")
    assert set(statuses(again).values()) == {"cached"}
