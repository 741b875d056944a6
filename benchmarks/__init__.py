"""Benchmarks of jupyter-mlops against its peers; run them all with ``python -m benchmarks``."""
