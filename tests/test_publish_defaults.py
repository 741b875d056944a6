"""A notebook's saved publish settings (``metadata.mlops.publish``) are the defaults of
``jupyter mlops publish`` and ``run --publish`` (and of REST, see test_server_models): every
option not given comes from them; an option given wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import registry_fixtures as rf
from runner_fixtures import code, mlops, write_notebook

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.registry.publish_defaults import fill_options, publish_defaults, read_settings


def _nb(publish) -> dict:
    return {"cells": [], "metadata": {"mlops": {"publish": publish}}, "nbformat": 4}


def test_settings_are_checked_one_key_at_a_time() -> None:
    settings, problems = read_settings(
        _nb(
            {
                "name": "wine",
                "aliases": ["champion", "champion"],
                "require": ["accuracy>=0.9"],
                "must_beat": "champion:accuracy",
                "description": "",
            }
        ),  # fmt: skip
        "/x/wine.ipynb",
    )
    assert problems == {}
    assert settings == {"name": "wine", "aliases": ["champion"], "require": ["accuracy>=0.9"],
                        "must_beat": "champion:accuracy"}  # fmt: skip
    _, problems = read_settings(
        _nb(
            {
                "name": "a b",
                "aliases": "prod",
                "require": ["acc~1"],
                "must_beat": "x",
                "colour": "red",
            }
        ),  # fmt: skip
        "/x/wine.ipynb",
    )
    assert set(problems) == {"name", "aliases", "require", "must_beat", "colour"}
    assert problems["name"].startswith("wine.ipynb: metadata.mlops.publish.name: invalid model")
    assert "unknown key 'colour'" in problems["colour"]
    assert read_settings(_nb([1]), "nb.ipynb")[1] == {
        "": "nb.ipynb: metadata.mlops.publish must be an object with keys name, description, "
        "aliases, require, must_beat"
    }
    assert read_settings({"metadata": {}}, None) == ({}, {})


def test_defaults_over_the_name_from_the_file_name() -> None:
    defaults, problems = publish_defaults(_nb({"aliases": ["staging"]}), "/x/My model (v2).ipynb")
    assert defaults == {"name": "My-model-v2", "description": "", "aliases": ["staging"],
                        "require": [], "must_beat": None}  # fmt: skip
    assert problems == []


def test_options_given_win_and_bad_settings_fail_only_when_used(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(_nb({"name": "saved", "aliases": ["latest"], "require": ["a>1"]})))
    given = {"name": None, "description": "mine", "aliases": ["prod"], "require": None,
             "must_beat": None}  # fmt: skip
    assert fill_options(str(path), given) == {"name": "saved", "description": "mine",
        "aliases": ["prod"], "require": ["a>1"], "must_beat": None}  # fmt: skip
    with pytest.raises(InvalidInput, match=r"nb.ipynb: metadata.mlops.publish.aliases: invalid "
                       "alias 'latest'"):  # fmt: skip
        fill_options(str(path), {**given, "aliases": None})
    everything = {"name": "n", "description": "", "aliases": [], "require": [], "must_beat": ""}
    assert fill_options(str(tmp_path / "gone.ipynb"), everything) == everything
    assert fill_options(str(tmp_path / "gone.ipynb"), {**everything, "name": None})["name"] is None


def test_cli_publish_takes_the_saved_settings(tmp_path: Path) -> None:
    """Refusals by a gate show which settings applied, before MLflow is involved (the saved
    name, aliases and description of a successful publish: test_server_models)."""
    notebook = rf.write_notebook(tmp_path / "train.ipynb")
    nb = json.loads(notebook.read_text())
    nb["metadata"]["mlops"] = {"publish": {"name": "iris-saved", "require": ["accuracy>=0.95"]}}
    notebook.write_text(json.dumps(nb))
    store = tmp_path / "store"
    run = rf.make_record(store, {"w": 1}, None, {"accuracy": 0.9}, notebook=notebook)
    base = ["--store", str(store)]
    done = rf.cli("publish", run["id"], *base)  # no options: the saved gate refuses
    assert done.returncode == 3, done.stderr
    assert "gate --require accuracy>=0.95 failed: accuracy is 0.9" in done.stderr
    done = rf.cli("publish", "latest", "--require", "accuracy>=0.99", *base)  # given: it wins
    assert done.returncode == 3, done.stderr
    assert "gate --require accuracy>=0.99 failed" in done.stderr
    assert not (store / "registry.db").exists()  # nothing was created


@pytest.mark.slow
def test_run_publish_without_a_name_uses_the_saved_settings(tmp_path: Path) -> None:
    nb_path = write_notebook(
        tmp_path / "tiny.ipynb",
        [
            code("model = {'w': 2}\nscore = 0.5", "step:train", "model:model"),
            code("score", "metrics"),
        ],
    )
    nb = json.loads(nb_path.read_text())
    store = str(tmp_path / "store")
    nb["metadata"]["mlops"] = {"publish": {"name": "bad name"}}
    nb_path.write_text(json.dumps(nb))
    bad = mlops("run", str(nb_path), "--store", store, "--publish")
    assert bad.returncode == 2
    assert "tiny.ipynb: metadata.mlops.publish.name: invalid model name 'bad name'" in bad.stderr
    assert not (tmp_path / "store" / "runs.db").exists()  # refused before anything ran

    nb["metadata"]["mlops"] = {"publish": {"name": "tiny", "require": ["score>=0.9"]}}
    nb_path.write_text(json.dumps(nb))
    done = mlops("run", str(nb_path), "--store", store, "--publish")
    assert done.returncode == 3, done.stderr
    assert "gate --require score>=0.9 failed: score is 0.5" in done.stderr
