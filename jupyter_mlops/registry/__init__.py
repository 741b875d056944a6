"""Publishing run models to an MLflow model registry (filled in by the registry work)."""
