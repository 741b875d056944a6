"""load_model trusts only what the registry recorded at publish (real MLflow)."""

from __future__ import annotations

import pytest
import registry_fixtures as rf

pytestmark = pytest.mark.slow


def test_load_model_refuses_a_version_the_registry_does_not_describe(tmp_path, monkeypatch):
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    from jupyter_mlops import load_model
    from jupyter_mlops.registry.loading import UntrustedModel

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("JUPYTER_MLOPS_REGISTRY_URI", raising=False)
    store = tmp_path / "store"
    uri = rf.seed_registry(store, tmp_path / "template")
    # mlflow.set_*_uri also export MLFLOW_*_URI into os.environ: register them with monkeypatch
    # first so they are removed after the test (they would leak into every later test).
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", uri)
    monkeypatch.setattr(mlflow.tracking._model_registry.utils, "_registry_uri", uri)
    clf = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    with mlflow.start_run():  # written by plain MLflow, as a pickle: no tags of ours
        mlflow.sklearn.log_model(
            clf, name="m", registered_model_name="foreign",
            serialization_format="cloudpickle", pip_requirements=["scikit-learn"],
        )  # fmt: skip
    with pytest.raises(UntrustedModel, match="does not record its format and digest"):
        load_model("foreign", store=str(store))
    loaded = load_model("foreign", store=str(store), allow_pickle=True)
    assert type(loaded).__name__ == "LogisticRegression"
