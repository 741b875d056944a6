"""The MLflow model directory around a model saved natively by the kernel's Python.

The run's model is never unpickled here: ``kernel_models.save`` (run with the kernel's own
interpreter, see ``deploy_check.py``) writes it as

- ``model.skops`` for scikit-learn estimators and pipelines whose classes can all be
  imported by name: MLflow's sklearn flavor in skops format, with the types skops does not
  trust by default listed (``trusted_types``) so they can be recorded in the registry;
- ``model.pkl`` (cloudpickle) for everything else, including estimators that contain
  classes defined in the notebook: a pyfunc wrapper around it (classes travel by value;
  loading it executes pickle, so ``load_model`` loads it only when the registry says our
  publisher wrote it and its sha256 matches).

This module adds MLmodel, requirements (pinned to the kernel's versions), signature and
input example around that file.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .requirements import pip_requirements

SKLEARN = "sklearn"
PYFUNC = "pyfunc"
NATIVE_ARTIFACT = "model.pkl"
SKOPS_ARTIFACT = "model.skops"
META_KEY = "jupyter_mlops"
FORMATS = {SKLEARN: "skops", PYFUNC: "cloudpickle"}  # flavor -> kernel_models kind


@dataclass
class SavedModel:
    path: Path
    flavor: str
    reason: str
    trusted_types: list[str]
    requirements: list[str]
    signature: dict[str, Any] | None
    has_example: bool
    format: str = "cloudpickle"
    native: str = ""  # the native file, relative to ``path``
    sha256: str = ""
    python: str = ""
    executable: str = ""


def _signature(example: Any, prediction: Any) -> Any:
    from mlflow.models import infer_signature

    try:
        return infer_signature(example, prediction)
    except Exception:  # noqa: BLE001 - fall back to an input-only signature
        try:
            return infer_signature(example)
        except Exception:  # noqa: BLE001 - example of a type MLflow cannot describe
            return None


def build(
    native: dict[str, Any],
    path: Path,
    example: Any = None,
    prediction: Any = None,
    packages: dict[str, str] | None = None,
) -> SavedModel:
    """An MLflow model at ``path`` (which must not exist) around ``native``, the answer of
    ``kernel_models.save``; ``prediction`` is the model's output on ``example``."""
    from .client import import_mlflow

    import_mlflow()
    flavor = SKLEARN if native["kind"] == "skops" else PYFUNC
    versions = native.get("versions") or {}
    has_example = example is not None
    signature = _signature(example, prediction) if has_example else None
    with _no_local_mismatch_check():
        if flavor == SKLEARN:
            reqs = pip_requirements(packages, ["scikit-learn", "skops"], versions)
            _save_sklearn(native, path, reqs, signature, example)
            relative = SKOPS_ARTIFACT
        else:
            reqs = pip_requirements(packages, ["cloudpickle"], versions)
            _save_pyfunc(native, path, reqs, signature, example)
            relative = f"artifacts/{NATIVE_ARTIFACT}"
    return SavedModel(
        path=path,
        flavor=flavor,
        reason=native["reason"],
        trusted_types=list(native.get("trusted_types") or []),
        requirements=reqs,
        signature=signature.to_dict() if signature is not None else None,
        has_example=has_example,
        format=native["kind"],
        native=relative,
        sha256=native["sha256"],
        python=native.get("python", ""),
        executable=native.get("executable", ""),
    )


def warm_up() -> None:
    """Import what :func:`build` needs (the publisher does this in a thread while the
    kernel's Python loads the model)."""
    from .client import import_mlflow

    import_mlflow()
    import mlflow.models.signature  # noqa: F401
    import mlflow.models.utils  # noqa: F401
    import mlflow.pyfunc  # noqa: F401
    import mlflow.utils.environment  # noqa: F401
    import yaml  # noqa: F401


_MISMATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def _no_local_mismatch_check() -> Iterator[None]:
    """Skip MLflow's check of the requirements against *this* process's packages while
    saving: they are the kernel's pins, already proven by the deployability check in the
    kernel's own Python; the check would warn about the wrong environment and costs ≈ 2 s
    (it scans every installed distribution)."""
    import mlflow.utils.environment as environment

    with _MISMATCH_LOCK:
        original = environment.warn_dependency_requirement_mismatches
        environment.warn_dependency_requirement_mismatches = _no_check
        try:
            yield
        finally:
            environment.warn_dependency_requirement_mismatches = original


def _no_check(model_requirements: list[str]) -> None:
    return None


def _with_example(save_fn: Any, example: Any, **kwargs: Any) -> None:
    """Save with the input example; if MLflow cannot store that example, save without."""
    import shutil

    if example is None:
        save_fn(**kwargs)
        return
    try:
        save_fn(input_example=example, **kwargs)
    except Exception:  # noqa: BLE001 - unsupported example type
        shutil.rmtree(kwargs["path"], ignore_errors=True)
        save_fn(**kwargs)


def _save_sklearn(native, path, reqs, signature, example) -> None:
    """What ``mlflow.sklearn.save_model`` writes, around the kernel's skops file."""
    import yaml
    from mlflow import pyfunc
    from mlflow.models import Model
    from mlflow.models.utils import _save_example
    from mlflow.utils.environment import (
        _CONDA_ENV_FILE_NAME,
        _PYTHON_ENV_FILE_NAME,
        _REQUIREMENTS_FILE_NAME,
        _process_pip_requirements,
        _PythonEnv,
    )

    path.mkdir(parents=True)
    shutil.copyfile(native["file"], path / SKOPS_ARTIFACT)
    model = Model(metadata={META_KEY: {"flavor": SKLEARN}})
    if example is not None:
        try:
            _save_example(model, example, str(path))
        except Exception:  # noqa: BLE001 - an example type MLflow cannot store: save without
            model.saved_input_example_info = None
    if signature is not None:
        model.signature = signature
    pyfunc.add_to_model(
        model,
        loader_module="mlflow.sklearn",
        model_path=SKOPS_ARTIFACT,
        conda_env=_CONDA_ENV_FILE_NAME,
        python_env=_PYTHON_ENV_FILE_NAME,
        predict_fn="predict",
    )
    model.add_flavor(
        SKLEARN,
        pickled_model=SKOPS_ARTIFACT,
        sklearn_version=(native.get("versions") or {}).get("scikit-learn"),
        serialization_format="skops",
        code=None,
        skops_trusted_types=list(native.get("trusted_types") or []) or None,
    )
    model.save(str(path / "MLmodel"))
    conda_env, pip_reqs, _constraints = _process_pip_requirements(None, reqs, None)
    with open(path / _CONDA_ENV_FILE_NAME, "w") as fh:
        yaml.safe_dump(conda_env, stream=fh, default_flow_style=False)
    (path / _REQUIREMENTS_FILE_NAME).write_text("\n".join(pip_reqs))
    env = _PythonEnv.current()
    env.python = native.get("python") or env.python  # the kernel's Python, not ours
    env.to_yaml(str(path / _PYTHON_ENV_FILE_NAME))


def _save_pyfunc(native, path, reqs, signature, example) -> None:
    import cloudpickle
    import mlflow.pyfunc

    from . import _pyfunc_model

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / NATIVE_ARTIFACT
        shutil.copyfile(native["file"], file)
        cloudpickle.register_pickle_by_value(_pyfunc_model)
        try:
            _with_example(
                mlflow.pyfunc.save_model,
                example,
                path=str(path),
                python_model=_pyfunc_model.NativeModel(),
                artifacts={"native": str(file)},
                pip_requirements=reqs,
                signature=signature,
                metadata={META_KEY: {"flavor": PYFUNC, "native": f"artifacts/{NATIVE_ARTIFACT}"}},
            )
        finally:
            cloudpickle.unregister_pickle_by_value(_pyfunc_model)
        env_file = path / "python_env.yaml"
        if native.get("python") and env_file.is_file():
            from mlflow.utils.environment import _PythonEnv

            env = _PythonEnv.from_yaml(str(env_file))
            env.python = native["python"]
            env.to_yaml(str(env_file))
