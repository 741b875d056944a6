"""The pyfunc wrapper for models that are not plain scikit-learn estimators.

This module is pickled *by value* into the model (``cloudpickle.register_pickle_by_value``),
so loading a published model needs MLflow and the model's own libraries, not jupyter-mlops.
Keep it self-contained: no imports from ``jupyter_mlops``.
"""

from __future__ import annotations

import mlflow.pyfunc


class NativeModel(mlflow.pyfunc.PythonModel):
    """Loads the cloudpickled native object from the ``native`` artifact; ``predict`` calls
    the object's own ``predict``."""

    def load_context(self, context):
        import pickle

        import cloudpickle  # noqa: F401 - rebuilds classes pickled by value

        with open(context.artifacts["native"], "rb") as fh:
            self.model = pickle.load(fh)

    def predict(self, context, model_input, params=None):
        return self.model.predict(model_input)
