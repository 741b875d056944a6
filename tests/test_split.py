"""``jupyter mlops split``: proposed tags from headings (pure: no kernel, except the one run
that proves a written proposal runs)."""

from __future__ import annotations

import json

import pytest
from runner_fixtures import REPO, code, markdown, mlops, run_json, statuses, write_notebook

from jupyter_mlops.compiler.split import propose_split, slugify
from jupyter_mlops.errors import InvalidInput


def sections_notebook(path):
    """H1 title, imports, a parameters section, a helper-function section, a load section
    with an exploration cell, two independent feature sections, a plot section, a check that
    binds nothing, and a section that joins the features."""
    return write_notebook(
        path,
        [
            markdown("# Sales report\nA notebook without tags."),
            code("import math\nimport statistics"),
            markdown("## Parameters"),
            code("n = 6\nscale = 2.5"),
            markdown("## Helper functions"),
            code("def square(x):\n    return x * x\n\n\nclass Box:\n    pass"),
            markdown("## 1. Load the data"),
            code("data = list(range(n))\nlabels = [str(x) for x in data]"),
            code("print(len(data))\ndata[:3]"),
            markdown("## Squares"),
            code("squares = [square(x) for x in data]"),
            markdown("## Scaled"),
            code("scaled = [x * scale for x in data]\nroot = math.sqrt(n)"),
            markdown("## Plot"),
            code("print(statistics.mean(squares), scaled[:2])\nsorted(squares)[:3]"),
            markdown("## Check"),
            code("assert len(squares) == len(scaled)"),
            markdown("## Combine"),
            code("total = sum(squares) + sum(scaled) + root\nprint(total)"),
        ],
    )


def test_a_step_per_h2_section_with_setup_skip_parameters_and_parallel_branches(tmp_path):
    proposal = propose_split(sections_notebook(tmp_path / "nb.ipynb"))
    assert proposal.by == "h2"
    tags = {i: t for i, t in enumerate(proposal.tags) if t}
    assert tags == {
        1: ["setup"],
        3: ["parameters"],
        5: ["setup"],  # the helper-function section: functions and classes only
        7: ["step:load-data"],  # "1. Load the data": numbering dropped, slugified
        8: ["skip"],  # displays only, defines nothing
        10: ["step:squares"],
        12: ["step:scaled"],
        14: ["skip"],  # the plot section: displays only
        16: ["step:combine"],  # the check binds nothing: merged into its neighbour
        18: ["step:combine"],
    }
    dag = {s.name: s.depends_on for s in proposal.steps}
    assert dag == {
        "load-data": [],
        "squares": ["load-data"],  # the two feature sections are parallel branches
        "scaled": ["load-data"],
        "combine": ["squares", "scaled"],
    }
    headings = {s.name: s.heading for s in proposal.steps}
    assert headings["load-data"] == "1. Load the data"
    assert proposal.pipeline.parameters == {
        "n": {"default": 6, "type": "int"},
        "scale": {"default": 2.5, "type": "float"},
    }
    messages = [w["message"] for w in proposal.warnings]
    assert any("'Check' defines nothing" in m and "'combine'" in m for m in messages), messages
    assert proposal.message == "4 steps from 9 H2 sections"
    # the JSON form of the contract
    data = proposal.to_dict()
    assert [c["index"] for c in data["cells"]] == list(range(19))
    assert data["pipeline"]["steps"][0]["name"] == "load-data"
    assert data["steps"][3] == {
        "name": "combine",
        "heading": "Combine",
        "cells": [16, 18],
        "depends_on": ["squares", "scaled"],
    }


def test_write_changes_only_the_tags_and_the_result_runs(tmp_path):
    nb = sections_notebook(tmp_path / "nb.ipynb")
    before = nb.read_text()
    proc = mlops("split", str(nb), "--write")
    assert proc.returncode == 0, proc.stderr
    assert "step:combine" in proc.stdout and "wrote the tags of 10 cells" in proc.stderr
    after = nb.read_text()
    old, new = json.loads(before), json.loads(after)
    for cell in new["cells"]:
        cell["metadata"].pop("tags", None)
    assert new == old  # nothing but metadata.tags changed
    layout = {"indent": 1, "sort_keys": True, "ensure_ascii": False}  # nbformat's, kept
    assert json.dumps(old, **layout) + "\n" == before
    assert json.dumps(json.loads(after), **layout) + "\n" == after
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left
    code_, record, stderr = run_json(str(nb), "--store", str(tmp_path / "store"))
    assert code_ == 0, stderr
    assert statuses(record) == dict.fromkeys(
        ["load-data", "squares", "scaled", "combine"], "succeeded"
    )
    assert record["parameters"] == {"n": 6, "scale": 2.5}


def test_without_write_nothing_is_written(tmp_path):
    nb = sections_notebook(tmp_path / "nb.ipynb")
    before = nb.read_bytes()
    proc = mlops("split", str(nb), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["steps"][0]["name"] == "load-data"
    assert nb.read_bytes() == before


def test_no_headings_is_one_clear_line_and_exit_2(tmp_path):
    nb = write_notebook(tmp_path / "flat.ipynb", [code("a = 1"), code("b = a + 1")])
    proc = mlops("split", str(nb))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: flat.ipynb has no headings: add '## Section' markdown cells or tag cells step:NAME"
    ]
    assert "Traceback" not in proc.stderr


def test_h1_when_there_are_no_h2_and_by_overrides(tmp_path):
    nb = write_notebook(
        tmp_path / "h1.ipynb",
        [markdown("# Load"), code("a = [1, 2]"), markdown("# Double"), code("b = a * 2")],
    )
    proposal = propose_split(nb)
    assert (proposal.by, [s.name for s in proposal.steps]) == ("h1", ["load", "double"])
    with pytest.raises(InvalidInput, match="no '## ' \\(H2\\) headings: use --by h1"):
        propose_split(nb, by="h2")
    mixed = write_notebook(
        tmp_path / "mixed.ipynb",
        [markdown("# Part one"), code("a = len('x')"), markdown("## Inner"), code("b = a + 1"),
         markdown("# Part two"), code("c = b + 1")],
    )  # fmt: skip
    assert [s.name for s in propose_split(mixed, by="h1").steps] == ["part-one", "part-two"]
    assert [s.name for s in propose_split(mixed).steps] == ["part-one", "inner", "part-two"]
    # literal assignments first under the notebook's title: the parameters cell
    titled = write_notebook(
        tmp_path / "titled.ipynb",
        [markdown("# Title"), code("import math", "setup"), code("rate = 0.5"),
         markdown("## Use"), code("y = math.floor(rate * 10)")],
    )  # fmt: skip
    proposal = propose_split(titled)
    assert proposal.tags[2] == ["parameters"]
    assert proposal.pipeline.parameters == {"rate": {"default": 0.5, "type": "float"}}


def test_existing_tags_are_kept(tmp_path):
    nb = write_notebook(
        tmp_path / "partly.ipynb",
        [
            code("import json", "imports"),
            markdown("## Load"),
            code("raw = '[1, 2, 3]'", "step:read"),
            code("data = json.loads(raw)"),
            markdown("## Explore"),
            code("x = len(data)", "skip"),
            markdown("## Total"),
            code("total = sum(data)"),
        ],
    )
    proposal = propose_split(nb)
    assert proposal.tags == [
        ["imports"], [], ["step:read"], ["step:read"], [], ["skip"], [], ["step:total"]
    ]  # fmt: skip
    assert {s.name: s.depends_on for s in proposal.steps} == {"read": [], "total": ["read"]}


def test_a_setup_looking_cell_that_reads_step_data_stays_in_its_step(tmp_path):
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        [
            markdown("## Load"),
            code("base = 3"),
            markdown("## Model"),
            code("class Scaled(int):\n    pass\n\n\ndef f(x=base):\n    return x"),
            code("y = f()"),
        ],
    )
    proposal = propose_split(nb)
    assert proposal.tags[3] == ["step:model"]  # its default reads 'base': not a setup cell
    assert {s.name: s.depends_on for s in proposal.steps} == {"load": [], "model": ["load"]}


def test_one_step_is_warned_about(tmp_path):
    nb = write_notebook(tmp_path / "nb.ipynb", [markdown("## All"), code("a = 1\nb = a + 1")])
    messages = [w["message"] for w in propose_split(nb).warnings]
    assert any(m.startswith("trivial split: one step") for m in messages), messages


def test_step_names_are_valid_and_unique():
    taken: set[str] = set()
    assert slugify("Données brutes (v2)!", taken) == "donnees-brutes-v2"
    assert slugify("Données brutes (v2)", taken) == "donnees-brutes-v2-2"
    assert slugify("2024", taken) == "step"
    assert slugify("日本語", taken) == "step-2"
    assert len(slugify("x" * 100, taken)) <= 63


def test_plot_cells_are_skipped_unless_a_later_cell_uses_what_they_define(tmp_path):
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import matplotlib.pyplot as plt"),
            markdown("## Load"),
            code("xs = [1, 2, 3]"),
            markdown("## Plot"),
            code("fig, ax = plt.subplots()\nax.plot(xs)\nax.set_title('xs')\nplt.show()"),
            code("xs.sort()\nxs"),  # changes xs, which the next section reads: kept
            markdown("## Use"),
            code("top = xs[-1]"),
            code("df_like = {'a': xs}\ndf_like['a']"),
            code("open('out.txt', 'w').write(str(top))"),  # writes a file: not display-only
        ],
    )
    tags = propose_split(nb).tags
    assert tags[0] == ["setup"]
    assert tags[4] == ["skip"]
    assert tags[5] == ["step:plot"]
    assert tags[8] == ["step:use"]  # binds df_like (not used later) but is not display-only
    assert tags[9] == ["step:use"]


def test_the_untagged_wine_example_gets_the_tags_it_was_written_with(tmp_path):
    """The tour's notebook with every tag removed: the proposal is its hand-made pipeline
    (parameters, imports as setup, the exploration cell skipped, four steps in a chain)."""
    nb = json.loads((REPO / "examples" / "wine_classifier.ipynb").read_text())
    for cell in nb["cells"]:
        cell["metadata"].pop("tags", None)
    proposal = propose_split(nb)
    tags = {i: t for i, t in enumerate(proposal.tags) if t}
    assert tags == {
        1: ["parameters"],
        2: ["setup"],
        4: ["step:load-data"],
        5: ["skip"],  # df.describe().T.head(10)
        7: ["step:split-train-test-sets"],
        9: ["step:train"],
        11: ["step:evaluate"],
        12: ["skip"],  # the metrics cell's bare names display only
    }
    assert {s.name: s.depends_on for s in proposal.steps} == {
        "load-data": [],
        "split-train-test-sets": ["load-data"],
        "train": ["split-train-test-sets"],
        "evaluate": ["split-train-test-sets", "train"],
    }
