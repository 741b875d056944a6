"""``POST /mlops/api/split`` and ``POST /mlops/api/verify`` on a real Jupyter server (the V
contract). Authorization (read for split, execute for verify, 403 for a read-only user) is
checked with every other route in test_server_auth.py."""

from __future__ import annotations

import json

import nbformat
import pytest
from runner_fixtures import code, markdown, write_notebook
from tornado.httpclient import HTTPClientError

SOORGEON = [
    markdown("## Load"),
    code("lst = [1, 2]"),
    markdown("## Middle"),
    code("lst.append(3)"),
    markdown("## Use"),
    code("total = sum(lst) * factor"),
]


async def _post(jp_fetch, route: str, body: dict | bytes):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await jp_fetch("mlops", "api", route, method="POST", body=data, request_timeout=600)


async def _error(jp_fetch, route: str, body: dict | bytes) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await _post(jp_fetch, route, body)
    return caught.value.code, json.loads(caught.value.response.body)["message"]


async def test_split_proposes_without_writing(jp_fetch, jp_root_dir) -> None:
    nb = write_notebook(jp_root_dir / "sub" / "s.ipynb", [code("factor = 2"), *SOORGEON])
    saved = nb.read_bytes()
    response = await _post(jp_fetch, "split", {"path": "sub/s.ipynb"})
    assert response.code == 200
    payload = json.loads(response.body)
    assert set(payload) == {"by", "cells", "steps", "pipeline", "warnings", "message"}
    assert payload["by"] == "h2"
    assert [c["tags"] for c in payload["cells"]] == [
        ["parameters"], [], ["step:load"], [], ["step:middle"], [], ["step:use"]
    ]  # literal assignments before the first heading: the parameters cell  # fmt: skip
    assert [(s["name"], s["heading"], s["depends_on"]) for s in payload["steps"]] == [
        ("load", "Load", []), ("middle", "Middle", ["load"]), ("use", "Use", ["middle"]),
    ]  # fmt: skip
    assert payload["pipeline"]["steps"][2]["inputs"] == {"lst": "middle"}
    assert payload["pipeline"]["parameters"] == {"factor": {"default": 2, "type": "int"}}
    assert payload["message"] == "3 steps from 3 H2 sections"
    assert nb.read_bytes() == saved


async def test_split_of_unsaved_content_and_errors(jp_fetch, jp_root_dir) -> None:
    write_notebook(jp_root_dir / "flat.ipynb", [code("a = 1")])
    # the editor's content is split, not the file
    content = nbformat.v4.new_notebook(cells=[markdown("# Only"), code("a = 1")])
    response = await _post(jp_fetch, "split", {"path": "flat.ipynb", "content": content,
                                               "by": "h1"})  # fmt: skip
    assert json.loads(response.body)["steps"][0]["name"] == "only"
    assert await _error(jp_fetch, "split", {"path": "flat.ipynb"}) == (
        400, "flat.ipynb has no headings: add '## Section' markdown cells or tag cells step:NAME"
    )  # fmt: skip
    code_, message = await _error(jp_fetch, "split", {"path": "flat.ipynb", "by": "h3"})
    assert code_ == 400 and "--by must be one of auto, h2, h1" in message
    assert (await _error(jp_fetch, "split", {"path": "nope.ipynb"}))[0] == 404
    assert (await _error(jp_fetch, "split", {"path": "../x.ipynb"}))[0] == 403
    assert (await _error(jp_fetch, "split", {"path": "flat.ipynb", "other": 1}))[0] == 400
    assert (await _error(jp_fetch, "split", b"[1]"))[0] == 400


async def test_verify_of_the_soorgeon_counter_example(jp_fetch, jp_root_dir) -> None:
    cells = [code("factor = 1", "parameters"), *SOORGEON]
    nb = write_notebook(jp_root_dir / "soorgeon.ipynb", cells)
    from jupyter_mlops.service import MlopsService

    MlopsService.create().split_write(str(nb))
    response = await _post(jp_fetch, "verify", {"path": "soorgeon.ipynb",
                                                "parameters": {"factor": 3}})  # fmt: skip
    assert response.code == 200
    payload = json.loads(response.body)
    assert set(payload) == {"equal", "message", "difference", "compared", "seconds"}
    assert payload["equal"] is True, payload
    assert payload["difference"] is None
    assert payload["compared"] == {"variables": 5, "steps": 3, "metrics": 0}
    assert payload["message"] == "equal: 5 variables in 3 steps and 0 metrics"
    assert set(payload["seconds"]) == {"notebook", "pipeline", "wall"}
    assert not (jp_root_dir / ".mlops").exists()


async def test_verify_refuses_bad_requests(jp_fetch, jp_root_dir) -> None:
    write_notebook(jp_root_dir / "nb.ipynb", [code("n = 1", "parameters"),
                                              code("m = n + 1", "step:one")])  # fmt: skip
    assert (await _error(jp_fetch, "verify", {"path": "missing.ipynb"}))[0] == 404
    assert (await _error(jp_fetch, "verify", {"path": "/etc/passwd"}))[0] == 403
    code_, message = await _error(jp_fetch, "verify", {"path": "nb.ipynb", "tolerance": "x"})
    assert code_ == 400 and "'tolerance' must be" in message
    code_, message = await _error(jp_fetch, "verify", {"path": "nb.ipynb", "tolerance": 2})
    assert code_ == 400 and "tolerance must be a number from 0 to 1" in message
    code_, message = await _error(
        jp_fetch, "verify", {"path": "nb.ipynb", "parameters": {"nope": 1}}
    )
    assert code_ == 400 and "nope" in message
