"""The notebooks in ``examples/``, end to end through the CLI: run, publish, check the version.

Each runs as shipped (a copy, so nothing is written next to the originals) with
``jupyter mlops run ... --publish`` into a fresh store whose registry is seeded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import registry_fixtures as rf
from runner_fixtures import cli_env, mlops

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SHIPPED = ["wine_classifier", "kale_iris", "diabetes_regression", "cancer_features"]


@pytest.fixture
def project(tmp_path: Path, tmp_path_factory) -> Path:
    """A copy of ``examples/`` with a store (``.mlops``) whose registry exists."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    rf.seed_registry(tmp_path / ".mlops", tmp_path_factory.getbasetemp() / "registry-template")
    return tmp_path


def run(project: Path, notebook: str, *args: str) -> dict:
    done = mlops("run", f"examples/{notebook}", "--store", ".mlops", "--json", *args,
                 cwd=project, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def compiled(project: Path, notebook: str) -> dict:
    done = mlops("compile", f"examples/{notebook}", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def deps(pipeline: dict) -> dict[str, set[str]]:
    return {step["name"]: set(step["upstream"]) for step in pipeline["steps"]}


def version_dir(project: Path, name: str, version: int) -> Path:
    from jupyter_mlops.registry.client import open_registry_client

    client = open_registry_client(f"sqlite:///{project / '.mlops' / 'registry.db'}")
    location = client.get_model_version_download_uri(name, str(version))
    return Path(location.removeprefix("file://"))


def test_examples_are_saved_as_jupyterlab_saves_them() -> None:
    """Opening them in JupyterLab changes nothing (no "modified" dot): nbformat 4.5 with cell
    ids, the python3 kernelspec and language_info, no outputs, nbformat's own layout."""
    import nbformat

    assert sorted(p.stem for p in EXAMPLES.glob("*.ipynb")) == sorted(SHIPPED)
    for stem in SHIPPED:
        path = EXAMPLES / f"{stem}.ipynb"
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert (nb.nbformat, nb.nbformat_minor) == (4, 5), stem
        assert (
            nb.metadata.kernelspec.name == "python3" and nb.metadata.language_info.name == "python"
        )
        assert all(c.get("outputs", []) == [] for c in nb.cells), stem
        assert path.read_text() == nbformat.writes(nb) + "\n", f"{stem}: not nbformat's layout"


def test_kale_tagged_notebook_runs_unchanged_and_publishes(project: Path) -> None:
    nb = project / "examples" / "kale_iris.ipynb"
    notebook = json.loads(nb.read_text())
    kale = {"imports", "functions", "pipeline-parameters", "pipeline-metrics", "skip"}
    tags = [t for c in notebook["cells"] for t in c["metadata"].get("tags", [])]
    assert all(t in kale or t.startswith(("block:", "prev:")) for t in tags), tags
    assert kale <= set(tags)  # every Kale tag kind is used

    pipeline = compiled(project, "kale_iris.ipynb")
    branches = {"logisticregression", "randomforest", "naivebayes"}
    assert deps(pipeline) == {
        "loaddata": set(), "datapreprocessing": {"loaddata"},
        **{b: {"datapreprocessing"} for b in branches}, "results": branches,
    }  # fmt: skip
    record = run(project, "kale_iris.ipynb")  # unchanged
    assert record["status"] == "succeeded", record
    assert set(record["metrics"]) == {"lr_accuracy", "rf_accuracy", "nb_accuracy"}
    assert all(0.8 <= v <= 1 for v in record["metrics"].values()), record["metrics"]
    assert record["model"] is None  # Kale has no model tag: nothing to publish yet

    # the one tag Kale lacks, as the notebook's first cell says: the unchanged steps are cached
    for cell in notebook["cells"]:
        if "block:results" in cell["metadata"].get("tags", []):
            cell["metadata"]["tags"] += ["model:best", "example:X_test[:5]"]
    nb.write_text(json.dumps(notebook))
    again = run(project, "kale_iris.ipynb", "--publish", "iris-kale", "--alias", "champion")
    assert again["status"] == "succeeded"
    assert again["publish"]["version"] == 1, again["publish"]
    assert {s: again["steps"][s]["status"] for s in ("loaddata", "randomforest")} == {
        "loaddata": "cached", "randomforest": "cached",
    }  # fmt: skip
    shown = mlops("models", "iris-kale", "--store", ".mlops", "--json", cwd=project)
    version = json.loads(shown.stdout)["versions"][0]
    assert version["aliases"] == ["champion"] and version["metrics"] == again["metrics"]


def test_regression_with_a_notebook_class_loads_in_a_fresh_process(project: Path) -> None:
    record = run(project, "diabetes_regression.ipynb", "--publish", "diabetes")
    assert record["status"] == "succeeded" and record["publish"]["version"] == 1, record
    assert record["metrics"]["r2"] > 0.3, record["metrics"]
    # a process that never saw the notebook: the class travels with the model
    code = (
        "import sys, jupyter_mlops\n"
        "from sklearn.datasets import load_diabetes\n"
        "assert not hasattr(sys.modules['__main__'], 'QuantileClipper')\n"
        "m = jupyter_mlops.load_model('diabetes')\n"
        "X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)\n"
        "p = m.predict(X[:20])\n"
        "print(type(m.steps[0][1]).__name__, len(p), float(abs(p - y[:20]).mean()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=project, env=cli_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    name, rows, mae = done.stdout.split()
    assert (name, rows) == ("QuantileClipper", "20")
    assert float(mae) < 80  # the targets range 25..346: a real fit, not a constant


def test_pandas_notebook_with_parallel_features_has_named_signature(project: Path) -> None:
    pipeline = compiled(project, "cancer_features.ipynb")
    assert deps(pipeline)["shape"] == {"load"} and deps(pipeline)["spread"] == {"load"}
    assert {"shape", "spread"} <= deps(pipeline)["join"]
    record = run(project, "cancer_features.ipynb", "--publish", "cancer", "--require", "auc>=0.9")
    assert record["status"] == "succeeded" and record["publish"]["version"] == 1, record
    # the plot cell (skip) ran nowhere
    run_dir = project / ".mlops" / "runs" / record["id"]
    executed = "".join(p.read_text() for p in run_dir.glob("*.ipynb"))
    assert "savefig" not in executed and "Mean measurements by diagnosis" not in executed

    import yaml
    from sklearn.datasets import load_breast_cancer

    families = [f.removeprefix("mean ").replace(" ", "_")
                for f in load_breast_cancer().feature_names if f.startswith("mean ")]  # fmt: skip
    expected = ([f"{f}_worst_ratio" for f in families] + [f"{f}_rel_error" for f in families]
                + ["size_band"])  # fmt: skip
    mlmodel = yaml.safe_load((version_dir(project, "cancer", 1) / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [column["name"] for column in inputs] == expected
