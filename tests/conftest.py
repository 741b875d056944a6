"""Shared pytest fixtures: a real Jupyter server with the extension enabled."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config(tmp_path):
    """Enable our server extension and keep its store inside the test's temp dir."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MlopsExtension": {"store": str(tmp_path / "store")},
    }
