"""The CI recipe (docs/examples/mlops-ci.yml): its ``pipeline`` step's script, run as written
against a scikit-learn notebook, gives exit codes 0/1/2/3 and promotes only a better model;
then champion/challenger through schedules, with the schedule's id in the alias history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from registry_fixtures import seed_registry
from runner_fixtures import cli_env, mlops
from schedule_fixtures import sklearn_notebook

pytestmark = pytest.mark.slow
WORKFLOW = Path(__file__).resolve().parents[1] / "docs" / "examples" / "mlops-ci.yml"


def _script() -> tuple[str, dict[str, str]]:
    flow = yaml.safe_load(WORKFLOW.read_text())
    steps = flow["jobs"]["retrain"]["steps"]
    step = next(s for s in steps if s.get("id") == "pipeline")
    return step["run"], {k: str(v) for k, v in flow["env"].items()}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("ci")
    store = root / "store"
    seed_registry(store, root / "template")
    return {"root": root, "nb": sklearn_notebook(root / "iris.ipynb"), "store": store}


def _ci(project: dict, args: str = "", min_score: str = "0.5") -> tuple[int, str, dict]:
    script, env = _script()
    env.update(NOTEBOOK=str(project["nb"]), MODEL="iris", MIN_SCORE=min_score, MLOPS_ARGS=args,
               JUPYTER_MLOPS_REGISTRY_URI="")  # fmt: skip
    full = cli_env()
    full.update(env, JUPYTER_MLOPS_STORE=str(project["store"]))
    full["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), full.get("PATH", "")])
    done = subprocess.run(["bash", "-c", script], cwd=project["root"], env=full,  # noqa: S603, S607
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    text = (project["root"] / "mlops-result.json").read_text()
    return done.returncode, done.stdout + done.stderr, json.loads(text) if text.strip() else {}


def _production(project: dict) -> int | None:
    out = mlops("models", "iris", "--store", str(project["store"]), "--json")
    return json.loads(out.stdout)["aliases"].get("production") if out.returncode == 0 else None


def test_the_ci_recipe_exit_codes_and_promotion(project: dict) -> None:
    code, out, result = _ci(project, "-p noise 0.2")  # the first model: nobody holds production
    assert code == 0, out
    assert result["publish"]["promoted"] is True and "promoted: True" in out
    champion = result["publish"]["version"]
    assert _production(project) == champion

    code, out, result = _ci(project, "-p noise 0.4")  # a worse challenger: kept, not promoted
    assert code == 0, out
    promotion = result["publish"]["promotion"]
    assert result["publish"]["promoted"] is False and "promoted: False" in out
    assert "not promoted: version" in out and "accuracy is" in out  # the CLI's own line
    assert promotion["metric"] == "accuracy" and promotion["incumbent_version"] == champion
    assert promotion["value"] < promotion["incumbent"]
    assert _production(project) == champion

    code, out, _ = _ci(project, "-p noise 0.2", min_score="1.5")
    assert code == 3 and "::error::refused" in out, out
    code, out, _ = _ci(project, "-p noise oops")
    assert code == 2 and "::error::invalid input" in out, out
    code, out, _ = _ci(project, "-p noise 2.0")  # samples more labels than there are: raises
    assert code == 1 and "::error::the pipeline failed" in out, out
    assert _production(project) == champion


def _schedule_run(project: dict, noise: str) -> tuple[str, dict]:
    store = str(project["store"])
    added = mlops("schedule", "add", str(project["nb"]), "--store", store, "--cron", "0 3 * * 1",
                  "-p", "noise", noise, "--publish", "iris", "--must-beat",
                  "production:accuracy", "--promote", "production", "--json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    schedule_id = json.loads(added.stdout)["id"]
    done = mlops("schedule", "run-now", schedule_id, "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    return schedule_id, json.loads(done.stdout)["outcome"]


def test_champion_challenger_through_schedules(project: dict) -> None:
    if _production(project) is None:  # run alone: make a champion first
        assert _ci(project, "-p noise 0.2")[0] == 0
    champion = _production(project)
    worse_id, worse = _schedule_run(project, "0.4")
    assert worse["result"] == "not-promoted" and worse["promoted"] is False
    assert worse["metric"] == "accuracy" and worse["incumbent_version"] == champion
    assert worse["value"] < worse["incumbent"] and f"{worse['value']:g}" in worse["reason"]
    assert _production(project) == champion  # the alias stays
    shown = mlops("schedule", "show", worse_id, "--store", str(project["store"]))
    assert "not-promoted" in shown.stdout and "accuracy" in shown.stdout

    better_id, better = _schedule_run(project, "0.0")
    assert better["result"] == "promoted" and better["promoted"] is True
    assert _production(project) == better["version"]
    history = json.loads(mlops("history", "iris", "--store", str(project["store"]),
                               "--json").stdout)  # fmt: skip
    move = [e for e in history if e["event"] == "alias-set"][-1]
    assert (move["alias"], move["from_version"], move["to_version"]) == (
        "production", champion, better["version"])  # fmt: skip
    assert move["schedule"] == better_id
    text = mlops("history", "iris", "--store", str(project["store"])).stdout
    assert f"(schedule {better_id})" in text
