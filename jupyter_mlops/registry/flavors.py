"""Saving a run's model as an MLflow model directory, in the right flavor.

- scikit-learn estimators and pipelines whose classes can all be imported by name use
  MLflow's sklearn flavor in skops format; the types skops does not trust by default are
  listed (``trusted_types``) so they can be recorded in the registry.
- everything else, including estimators that contain classes defined in the notebook
  (``__main__`` of the kernel, which no other process can import), goes through a pyfunc
  wrapper around the cloudpickled object (classes travel by value; loading it executes
  pickle, so only load models from a registry you trust).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .requirements import pip_requirements

SKLEARN = "sklearn"
PYFUNC = "pyfunc"
NATIVE_ARTIFACT = "model.pkl"
META_KEY = "jupyter_mlops"


@dataclass
class FlavorChoice:
    flavor: str
    reason: str
    trusted_types: list[str] = field(default_factory=list)


@dataclass
class SavedModel:
    path: Path
    flavor: str
    reason: str
    trusted_types: list[str]
    requirements: list[str]
    signature: dict[str, Any] | None
    has_example: bool


def _importable(type_name: str) -> bool:
    module = type_name.rsplit(".", 1)[0]
    if module == "__main__" or "<locals>" in type_name:
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _is_sklearn(obj: Any) -> bool:
    if "sklearn" not in sys.modules:
        return False
    from sklearn.base import BaseEstimator

    return isinstance(obj, BaseEstimator)


def choose_flavor(obj: Any) -> FlavorChoice:
    """sklearn/skops when every class is importable by name, else the cloudpickle pyfunc."""
    if not _is_sklearn(obj):
        return FlavorChoice(PYFUNC, f"{type(obj).__module__}.{type(obj).__qualname__} "
                            "is not a scikit-learn estimator")  # fmt: skip
    try:
        import skops.io as sio

        untrusted = sorted(sio.get_untrusted_types(data=sio.dumps(obj)))
    except Exception as exc:  # noqa: BLE001 - any skops failure means "use cloudpickle"
        return FlavorChoice(PYFUNC, f"skops cannot serialize it ({type(exc).__name__}: {exc})")
    local = [t for t in untrusted if not _importable(t)]
    if local:
        return FlavorChoice(
            PYFUNC, "contains classes no other process can import: " + ", ".join(local)
        )
    return FlavorChoice(SKLEARN, "scikit-learn estimator, skops format", untrusted)


def _signature(model: Any, example: Any) -> Any:
    from mlflow.models import infer_signature

    try:
        return infer_signature(example, model.predict(example))
    except Exception:  # noqa: BLE001 - fall back to an input-only signature
        try:
            return infer_signature(example)
        except Exception:  # noqa: BLE001 - example of a type MLflow cannot describe
            return None


def save(
    obj: Any,
    path: Path,
    example: Any = None,
    packages: dict[str, str] | None = None,
    choice: FlavorChoice | None = None,
) -> SavedModel:
    """Save ``obj`` as an MLflow model at ``path`` (which must not exist)."""
    from .client import import_mlflow

    import_mlflow()
    choice = choice or choose_flavor(obj)
    has_example = example is not None
    signature = _signature(obj, example) if has_example else None
    if choice.flavor == SKLEARN:
        reqs = pip_requirements(packages, ["scikit-learn", "skops"])
        _save_sklearn(obj, path, choice, reqs, signature, example)
    else:
        reqs = pip_requirements(packages, ["cloudpickle"])
        _save_pyfunc(obj, path, reqs, signature, example)
    return SavedModel(
        path=path,
        flavor=choice.flavor,
        reason=choice.reason,
        trusted_types=choice.trusted_types,
        requirements=reqs,
        signature=signature.to_dict() if signature is not None else None,
        has_example=has_example,
    )


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


def _save_sklearn(obj, path, choice, reqs, signature, example) -> None:
    import mlflow.sklearn

    _with_example(
        mlflow.sklearn.save_model,
        example,
        sk_model=obj,
        path=str(path),
        serialization_format="skops",
        skops_trusted_types=choice.trusted_types or None,
        pip_requirements=reqs,
        signature=signature if signature is not None else False,
        metadata={META_KEY: {"flavor": SKLEARN}},
    )


def _save_pyfunc(obj, path, reqs, signature, example) -> None:
    import cloudpickle
    import mlflow.pyfunc

    from . import _pyfunc_model

    with tempfile.TemporaryDirectory() as tmp:
        native = Path(tmp) / NATIVE_ARTIFACT
        native.write_bytes(cloudpickle.dumps(obj))
        cloudpickle.register_pickle_by_value(_pyfunc_model)
        try:
            _with_example(
                mlflow.pyfunc.save_model,
                example,
                path=str(path),
                python_model=_pyfunc_model.NativeModel(),
                artifacts={"native": str(native)},
                pip_requirements=reqs,
                signature=signature,
                metadata={META_KEY: {"flavor": PYFUNC, "native": f"artifacts/{NATIVE_ARTIFACT}"}},
            )
        finally:
            cloudpickle.unregister_pickle_by_value(_pyfunc_model)
