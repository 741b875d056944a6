"""``GET /mlops/api/pipeline?path=``: encoded, symlinked and oversized paths that a fault
campaign tried. Every one is a 4xx JSON answer (never a 500): 403 outside the root, 404
unknown; nothing outside the server root is ever read."""

from __future__ import annotations

import json
import os

import pytest
from runner_fixtures import code, write_notebook


@pytest.fixture
def layout(jp_root_dir):
    """A notebook inside the root, one outside it, symlinks from inside to outside."""
    write_notebook(jp_root_dir / "sub" / "nb.ipynb", [code("a = 1", "step:one")])
    outside = jp_root_dir.parent / "outside"
    write_notebook(outside / "secret.ipynb", [code("b = 2", "step:secret")])
    os.symlink(outside / "secret.ipynb", jp_root_dir / "link.ipynb")
    os.symlink(outside, jp_root_dir / "dirlink")
    write_notebook(jp_root_dir / "deep.ipynb", [code("x = " + "-" * 100_000 + "1", "step:a")])
    return jp_root_dir


async def _raw_get(http_server_client, jp_base_url, jp_auth_header, query: str):
    """GET with the query string exactly as given (jp_fetch would re-encode it)."""
    url = f"{jp_base_url.rstrip('/')}/mlops/api/pipeline?{query}"
    return await http_server_client.fetch(url, headers=jp_auth_header, raise_error=False)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("path=%2e%2e/outside/secret.ipynb", 403, "path is outside the server root"),
        ("path=%2E%2E%2Foutside%2Fsecret.ipynb", 403, "path is outside the server root"),
        ("path=sub/%2e%2e/%2e%2e/outside/secret.ipynb", 403, "path is outside the server root"),
        ("path=%252e%252e/outside/secret.ipynb", 404, "no such notebook"),  # decoded once only
        ("path=%252e%252e%252foutside%252fsecret.ipynb", 404, "no such notebook"),
        ("path=..%5coutside%5csecret.ipynb", 404, "no such notebook"),  # backslash: a name
        ("path=sub%5cnb.ipynb", 404, "no such notebook"),
        ("path=sub/nb.ipynb%00.txt", 404, "no such notebook"),  # tornado: NUL becomes a space
        ("path=%00", 400, "a notebook path is required"),  # NUL → space → stripped
        ("path=~/outside/secret.ipynb", 404, "no such notebook"),  # no ~ expansion
        ("path=~root/.bashrc", 404, "no such notebook"),
        ("path=%2fetc%2fpasswd", 403, "use a path relative to the server root"),
        ("path=//etc/passwd", 403, "use a path relative to the server root"),
        ("path=link.ipynb", 403, "path is outside the server root"),  # symlink out of root
        ("path=dirlink/secret.ipynb", 403, "path is outside the server root"),
        ("path=" + "a" * 5000 + ".ipynb", 400, "not a usable notebook path (File name too long)"),
        ("path=" + "a/" * 3000 + "nb.ipynb", 400, "not a usable notebook path"),
    ],
)
async def test_path_variants_are_4xx_json(
    layout, http_server_client, jp_base_url, jp_auth_header, query, status, message
) -> None:
    response = await _raw_get(http_server_client, jp_base_url, jp_auth_header, query)
    assert response.code == status, (query, response.code, response.body[:300])
    body = json.loads(response.body)
    assert message in body["message"]
    assert "secret" not in json.dumps(body).replace("secret.ipynb", "")


async def test_the_notebook_inside_still_compiles(
    layout, http_server_client, jp_base_url, jp_auth_header
) -> None:
    for query in ("path=sub/nb.ipynb", "path=sub%2fnb.ipynb", "path=./sub/../sub/nb.ipynb"):
        response = await _raw_get(http_server_client, jp_base_url, jp_auth_header, query)
        assert response.code == 200, (query, response.body)
        assert [s["name"] for s in json.loads(response.body)["pipeline"]["steps"]] == ["one"]


async def test_a_too_deeply_nested_cell_is_a_located_error(
    layout, http_server_client, jp_base_url, jp_auth_header
) -> None:
    response = await _raw_get(http_server_client, jp_base_url, jp_auth_header, "path=deep.ipynb")
    assert response.code == 200
    [error] = json.loads(response.body)["errors"]
    assert error["cell"] == 0 and error["step"] == "a"
    assert "cell 1 (step 'a'): expression too deeply nested" in error["message"]


async def test_without_a_token_nothing_is_revealed(layout, http_server_client, jp_base_url) -> None:
    for query in ("path=link.ipynb", "path=%2e%2e/outside/secret.ipynb", "path=sub/nb.ipynb"):
        url = f"{jp_base_url.rstrip('/')}/mlops/api/pipeline?{query}"
        response = await http_server_client.fetch(url, raise_error=False)
        assert response.code == 403, (query, response.code)
