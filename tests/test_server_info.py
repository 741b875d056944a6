"""The server extension's info route: real Jupyter server, real authentication."""

from __future__ import annotations

import json

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

import jupyter_mlops


async def test_info_with_token(jp_fetch, tmp_path):
    response = await jp_fetch("mlops", "api", "info")
    assert response.code == 200
    payload = json.loads(response.body)
    assert payload["version"] == jupyter_mlops.__version__
    assert payload["store"] == str((tmp_path / "store").resolve())
    assert payload["registry_uri"] == f"sqlite:///{(tmp_path / 'store').resolve()}/registry.db"


async def test_info_without_token_is_forbidden(jp_fetch):
    with pytest.raises(HTTPClientError) as excinfo:
        await jp_fetch("mlops", "api", "info", headers={"Authorization": ""})
    assert excinfo.value.code == 403


class DenyMlops(Authorizer):
    """Allows everything except our ``mlops`` resource."""

    def is_authorized(self, handler, user, action, resource):
        return resource != "mlops"


@pytest.fixture
def deny_mlops(jp_server_config):
    jp_server_config["ServerApp"]["authorizer_class"] = DenyMlops


async def test_info_checks_authorization(deny_mlops, jp_fetch):
    with pytest.raises(HTTPClientError) as excinfo:
        await jp_fetch("mlops", "api", "info")
    assert excinfo.value.code == 403
