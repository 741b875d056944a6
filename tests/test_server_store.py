"""The server finds the store per notebook, like the CLI (real Jupyter server)."""

from __future__ import annotations

import json

import pytest
from runner_fixtures import code, write_notebook


@pytest.fixture
def jp_server_config(monkeypatch):
    """No MlopsExtension.store: the store is discovered."""
    for name in ("JUPYTER_MLOPS_STORE", "JUPYTER_MLOPS_REGISTRY_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}


@pytest.fixture
def layout(tmp_path, jp_root_dir):
    """A project store above the server root, and a nested one below it."""
    (tmp_path / ".mlops").mkdir()
    (jp_root_dir / "nested" / ".mlops").mkdir(parents=True)
    write_notebook(jp_root_dir / "a" / "n.ipynb", [code("x = 1", "step:a")])
    write_notebook(jp_root_dir / "nested" / "m.ipynb", [code("x = 1", "step:a")])
    return tmp_path


async def test_info_per_notebook_finds_stores_above_the_root_and_nested(layout, jp_fetch):
    top = layout / ".mlops"
    default = json.loads((await jp_fetch("mlops", "api", "info")).body)
    assert default["store"] == str(top) and "found" in default["store_how"]
    info = json.loads((await jp_fetch("mlops", "api", "info", params={"path": "a/n.ipynb"})).body)
    assert info["store"] == str(top) and info["notebook"].endswith("a/n.ipynb")
    assert info["mlflow_env"] == f"MLFLOW_TRACKING_URI=sqlite:///{top}/registry.db python ..."
    nested = json.loads(
        (await jp_fetch("mlops", "api", "info", params={"path": "nested/m.ipynb"})).body
    )
    assert nested["store"] == str(layout / "root_dir" / "nested" / ".mlops")
    assert any("shadows the store" in w and str(top) in w for w in nested["warnings"])


async def test_info_of_a_notebook_outside_the_root_is_refused(layout, jp_fetch):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as excinfo:
        await jp_fetch("mlops", "api", "info", params={"path": "../x.ipynb"})
    assert excinfo.value.code == 403
