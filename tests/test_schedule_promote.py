"""``--promote ALIAS``: ``--must-beat`` decides only whether ALIAS moves; the version is kept
either way (real MLflow registry, real deployability check, both publish paths)."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_fixtures import iris, make_record, seed_registry

from jupyter_mlops.errors import GateRefused, InvalidInput
from jupyter_mlops.registry.gates import parse_must_beat, promotion
from jupyter_mlops.service import MlopsService

pytestmark = pytest.mark.slow


def test_promotion_decision_names_metric_and_both_values() -> None:
    gate = parse_must_beat("production:acc")
    worse = promotion(gate, "production", {"acc": 0.8}, (2, {"acc": 0.9}))
    assert worse["promoted"] is False
    assert (worse["metric"], worse["value"], worse["incumbent"]) == ("acc", 0.8, 0.9)
    assert "0.8" in worse["reason"] and "0.9" in worse["reason"]
    assert promotion(gate, "production", {"acc": 0.95}, (2, {"acc": 0.9}))["promoted"]
    assert promotion(gate, "production", {"acc": 0.1}, None)["promoted"]  # no holder yet
    lower = parse_must_beat("production:rmse:lower")
    assert promotion(lower, "production", {"rmse": 1.0}, (1, {"rmse": 2.0}))["promoted"]
    kept = promotion(gate, "production", {"acc": 0.99}, (1, {"f1": 0.5}))
    assert kept["promoted"] is False and "no metric 'acc'" in kept["reason"]
    assert promotion(None, "production", {}, (1, {}))["promoted"]  # no gate: always moves
    with pytest.raises(InvalidInput):  # the run itself lacks the metric: invalid input
        promotion(gate, "production", {"f1": 0.5}, None)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("promote")
    store = tmp / "store"
    uri = seed_registry(store, tmp / "template")
    return store, uri


def _run(store: Path, accuracy: float) -> str:
    clf, example = iris(3)
    return make_record(store, clf, example, {"accuracy": accuracy})["id"]


def _service(store: Path, uri: str) -> MlopsService:
    return MlopsService.create(store=store, registry_uri=uri)


def _holder(service: MlopsService, alias: str) -> int | None:
    from jupyter_mlops.errors import NotFound

    try:
        return service.models("iris")["aliases"].get(alias)  # type: ignore[index]
    except NotFound:
        return None


@pytest.mark.parametrize("via_mlflow", [True, False], ids=["mlflow-path", "fast-path"])
def test_promote_keeps_version_and_moves_alias_only_when_better(
    registry: tuple[Path, str], via_mlflow: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, uri = registry
    if via_mlflow:
        monkeypatch.setenv("JUPYTER_MLOPS_PUBLISH_VIA_MLFLOW", "1")
    service = _service(store, uri)
    opts = {"must_beat": "production:accuracy", "promote": "production", "aliases": [],
            "require": ["accuracy>=0.5"], "description": "x"}  # fmt: skip
    first = None
    if _holder(service, "production") is None:  # the first publish: nobody holds it yet
        first = service.publish(_run(store, 0.9), "iris", **opts)
        assert first["promoted"] is True and first["aliases"] == ["production"]
        assert "no version holds @production yet" in first["promotion"]["reason"]
    champion = _holder(service, "production")
    champion_acc, better_acc = (0.9, 0.95) if first else (0.95, 0.97)

    worse = service.publish(_run(store, 0.8), "iris", **opts, schedule="sched-worse")
    assert worse["promoted"] is False and worse["aliases"] == []
    p = worse["promotion"]
    assert (p["metric"], p["value"], p["incumbent"], p["incumbent_version"]) == (
        "accuracy", 0.8, champion_acc, champion)  # fmt: skip
    assert _holder(service, "production") == champion  # the alias stays
    versions = [v["version"] for v in service.models("iris")["versions"]]  # type: ignore[index]
    assert worse["version"] in versions  # ... and the version is kept

    better = service.publish(_run(store, better_acc), "iris", **opts,
                             schedule="sched-better")  # fmt: skip
    assert better["promoted"] is True and better["aliases"] == ["production"]
    assert _holder(service, "production") == better["version"]
    moves = [e for e in service.history("iris") if e["event"] == "alias-set"]
    assert moves[-1]["to_version"] == better["version"]
    assert moves[-1]["from_version"] == champion
    assert moves[-1]["schedule"] == "sched-better"  # who moved it
    assert "promoted" in moves[-1]["reason"]
    published = [e for e in service.history("iris") if e["event"] == "publish"]
    assert published[-2]["schedule"] == "sched-worse"


def test_promote_does_not_bypass_require(registry: tuple[Path, str]) -> None:
    store, uri = registry
    with pytest.raises(GateRefused, match="accuracy"):
        _service(store, uri).publish(
            _run(store, 0.3),
            "iris",
            require=["accuracy>=0.5"],
            must_beat="production:accuracy",
            promote="production",
        )
