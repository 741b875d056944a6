"""``GET /mlops/api/pipeline``: the compiler behind a real Jupyter server."""

from __future__ import annotations

import json

import pytest
from runner_fixtures import code, write_notebook
from tornado.httpclient import HTTPClientError


async def test_pipeline_of_a_notebook(jp_fetch, jp_root_dir) -> None:
    write_notebook(
        jp_root_dir / "sub" / "nb.ipynb",
        [code("a = 1", "step:one"), code("b = a + 1", "step:two")],
    )
    response = await jp_fetch("mlops", "api", "pipeline", params={"path": "sub/nb.ipynb"})
    payload = json.loads(response.body)
    assert [s["name"] for s in payload["steps"]] == ["one", "two"]
    assert payload["steps"][1]["inputs"] == {"a": "one"}


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("../outside.ipynb", 400, "path is outside the server root"),
        ("/etc/passwd", 400, "use a path relative to the server root"),
        ("missing.ipynb", 404, "missing.ipynb: no such notebook"),
        ("", 400, "a notebook path is required"),
        ("broken.ipynb", 400, "'x' is used but no earlier step defines it"),
    ],
)
async def test_pipeline_errors_are_json_4xx(jp_fetch, jp_root_dir, path, status, message) -> None:
    write_notebook(jp_root_dir / "broken.ipynb", [code("y = x", "step:one")])
    (jp_root_dir.parent / "outside.ipynb").write_text("{}")
    with pytest.raises(HTTPClientError) as excinfo:
        await jp_fetch("mlops", "api", "pipeline", params={"path": path})
    assert excinfo.value.code == status
    body = json.loads(excinfo.value.response.body)
    assert message in body["message"]
