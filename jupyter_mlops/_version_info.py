"""The package version, read without importing anything heavy."""

from __future__ import annotations

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    try:
        from importlib.metadata import version

        __version__ = version("jupyter-mlops")
    except Exception:  # noqa: BLE001 - not installed at all
        __version__ = "0.0.0.dev0"
