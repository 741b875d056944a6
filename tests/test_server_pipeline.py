"""``GET``/``POST /mlops/api/pipeline``: the compiler behind a real Jupyter server.

The answer is ``{"pipeline", "errors", "warnings", "parameters_schema", "publish_defaults"}``;
a notebook that does not compile is data (200, errors located by cell), not a 4xx.
"""

from __future__ import annotations

import json

import jsonschema
import nbformat
import pytest
from runner_fixtures import code, markdown, write_notebook
from tornado.httpclient import HTTPClientError

KEYS = {"pipeline", "errors", "warnings", "parameters_schema", "publish_defaults"}


async def _get(jp_fetch, path: str) -> dict:
    response = await jp_fetch("mlops", "api", "pipeline", params={"path": path})
    assert response.code == 200
    return json.loads(response.body)


async def _post(jp_fetch, body: bytes | dict, **kwargs):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await jp_fetch("mlops", "api", "pipeline", method="POST", body=data, **kwargs)


async def test_pipeline_of_a_notebook(jp_fetch, jp_root_dir) -> None:
    write_notebook(
        jp_root_dir / "sub" / "My model (v2).ipynb",
        [code("a = 1", "step:one"), code("b = a + 1", "step:two")],
    )
    payload = await _get(jp_fetch, "sub/My model (v2).ipynb")
    assert set(payload) == KEYS
    assert payload["errors"] == [] and payload["warnings"] == []
    assert [s["name"] for s in payload["pipeline"]["steps"]] == ["one", "two"]
    assert payload["pipeline"]["steps"][1]["inputs"] == {"a": "one"}
    assert payload["parameters_schema"]["properties"] == {}
    assert payload["publish_defaults"] == {
        "name": "My-model-v2", "description": "", "aliases": [], "require": [], "must_beat": None,
    }  # fmt: skip


async def test_a_notebook_that_does_not_compile_is_data(jp_fetch, jp_root_dir) -> None:
    write_notebook(
        jp_root_dir / "broken.ipynb",
        [
            markdown("# Title"),
            code("lr = 0.1", "parameters"),
            code("a = 1", "step:one"),
            code("lr = 2\nprint(a)\ny = x + 1", "step:two"),
        ],
    )
    payload = await _get(jp_fetch, "broken.ipynb")
    assert payload["pipeline"] is None
    assert payload["errors"] == [
        {"cell": 3, "step": "two", "variable": "x", "line": 3,
         "message": "broken.ipynb: cell 4 (step 'two'), line 3: 'x' is used but no earlier "
         "step defines it"},
    ]  # fmt: skip
    assert payload["warnings"][0]["step"] == "two"
    assert payload["warnings"][0]["variable"] == "lr"
    # the parameters form still shows what the parameters cell declares
    assert payload["parameters_schema"]["properties"]["lr"]["default"] == 0.1


async def test_live_compile_of_unsaved_content(jp_fetch, jp_root_dir) -> None:
    """The editor's content is compiled as it is; the saved file is neither used nor changed."""
    path = write_notebook(jp_root_dir / "nb.ipynb", [code("a = 1", "step:one")])
    saved = path.read_bytes()
    nb = nbformat.reads(saved.decode(), as_version=4)
    nb.cells.append(code("b = a + missing", "step:two"))
    response = await _post(jp_fetch, {"path": "nb.ipynb", "content": nb})
    assert response.code == 200
    payload = json.loads(response.body)
    assert payload["pipeline"] is None
    [error] = payload["errors"]
    assert (error["cell"], error["step"], error["variable"]) == (1, "two", "missing")
    assert "nb.ipynb: cell 2 (step 'two')" in error["message"]
    assert path.read_bytes() == saved

    nb.cells[1] = code("b = a + 1", "step:two")  # fixed in the editor: the DAG follows
    payload = json.loads((await _post(jp_fetch, {"path": "nb.ipynb", "content": nb})).body)
    assert payload["errors"] == []
    assert [s["name"] for s in payload["pipeline"]["steps"]] == ["one", "two"]
    assert payload["pipeline"]["steps"][1]["upstream"] == ["one"]


async def test_parameters_schema_is_a_json_schema_of_the_parameters(jp_fetch, jp_root_dir) -> None:
    source = (
        "n: int = 3\nrate = 0.5\nname = 'x'\nflag = True\nsizes = [1, 2]\n"
        "opts = {'a': 1}\nanything = None\ntoken = ''"
    )
    write_notebook(
        jp_root_dir / "p.ipynb",
        [code(source, "parameters", "secret:token"), code("print(n, rate)", "step:one")],
    )
    schema = (await _get(jp_fetch, "p.ipynb"))["parameters_schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    props = schema["properties"]
    assert list(props) == ["n", "rate", "name", "flag", "sizes", "opts", "anything", "token"]
    assert {k: p.get("type") for k, p in props.items()} == {
        "n": "integer", "rate": "number", "name": "string", "flag": "boolean",
        "sizes": "array", "opts": "object", "anything": None, "token": "string",
    }  # fmt: skip
    assert props["sizes"]["default"] == [1, 2] and props["opts"]["default"] == {"a": 1}
    assert props["sizes"]["items"] == {}
    assert props["n"]["title"] == "n" and props["token"]["writeOnly"] is True
    defaults = {k: p["default"] for k, p in props.items()}
    jsonschema.validate(defaults, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**defaults, "n": "three"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**defaults, "unknown": 1}, schema)


async def test_publish_defaults_from_the_notebook_metadata(jp_fetch, jp_root_dir) -> None:
    path = write_notebook(jp_root_dir / "wine.ipynb", [code("a = 1", "step:one")])
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["mlops"] = {"publish": {"aliases": ["champion"], "require": ["accuracy>=0.9"]}}
    nbformat.write(nb, str(path))
    defaults = (await _get(jp_fetch, "wine.ipynb"))["publish_defaults"]
    assert defaults == {
        "name": "wine", "description": "", "aliases": ["champion"],
        "require": ["accuracy>=0.9"], "must_beat": None,
    }  # fmt: skip

    nb.metadata["mlops"]["publish"] = {"name": "wine-clf", "must_beat": "champion:accuracy",
                                       "aliases": ["latest"], "require": "accuracy>0.9"}  # fmt: skip
    payload = json.loads((await _post(jp_fetch, {"path": "wine.ipynb", "content": nb})).body)
    assert payload["publish_defaults"]["name"] == "wine-clf"
    assert payload["publish_defaults"]["must_beat"] == "champion:accuracy"
    assert payload["publish_defaults"]["aliases"] == []  # invalid settings: warned, not used
    assert payload["publish_defaults"]["require"] == []
    messages = [w["message"] for w in payload["warnings"]]
    assert any("metadata.mlops.publish.aliases: invalid alias 'latest'" in m for m in messages)
    assert any("metadata.mlops.publish.require: must be a list of strings" in m for m in messages)


async def test_files_that_are_not_notebooks_are_data(jp_fetch, jp_root_dir) -> None:
    (jp_root_dir / "text.ipynb").write_text("not json")
    payload = await _get(jp_fetch, "text.ipynb")
    assert payload["pipeline"] is None
    assert "text.ipynb: not a notebook (invalid JSON" in payload["errors"][0]["message"]
    nb = nbformat.v4.new_notebook(cells=[code("x <- 1")])
    nb.metadata["kernelspec"] = {"name": "ir", "language": "R", "display_name": "R"}
    (jp_root_dir / "r.ipynb").write_text(nbformat.writes(nb))
    payload = await _get(jp_fetch, "r.ipynb")
    assert "this is a r notebook" in payload["errors"][0]["message"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("../outside.ipynb", 403, "path is outside the server root"),
        ("/etc/passwd", 403, "use a path relative to the server root"),
        ("missing.ipynb", 404, "missing.ipynb: no such notebook"),
        ("", 400, "a notebook path is required"),
        (".hidden/nb.ipynb", 404, "no such notebook"),  # hidden, as the contents API hides it
        ("visible.ipynb", 404, "no such notebook"),  # a link to a hidden file
    ],
)
async def test_pipeline_path_errors_are_json_4xx(
    jp_fetch, jp_root_dir, path, status, message
) -> None:
    write_notebook(jp_root_dir / ".hidden" / "nb.ipynb", [code("a = 1", "step:one")])
    (jp_root_dir / "visible.ipynb").symlink_to(jp_root_dir / ".hidden" / "nb.ipynb")
    (jp_root_dir.parent / "outside.ipynb").write_text("{}")
    for request in ("GET", "POST"):
        if request == "POST" and status == 404 and "missing" in path:
            continue  # POST compiles the content it is given: the file need not exist
        with pytest.raises(HTTPClientError) as excinfo:
            if request == "GET":
                await jp_fetch("mlops", "api", "pipeline", params={"path": path})
            else:
                nb = nbformat.v4.new_notebook(cells=[code("a = 1")])
                await _post(jp_fetch, {"path": path, "content": nb})
        assert excinfo.value.code == status, request
        body = json.loads(excinfo.value.response.body)
        assert message in body["message"]


@pytest.fixture
def allow_hidden(jp_server_config):
    jp_server_config["ContentsManager"] = {"allow_hidden": True}


async def test_hidden_files_when_the_server_shows_them(allow_hidden, jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / ".hidden" / "nb.ipynb", [code("a = 1", "step:one")])
    payload = await _get(jp_fetch, ".hidden/nb.ipynb")
    assert [s["name"] for s in payload["pipeline"]["steps"]] == ["one"]


async def test_post_of_a_notebook_not_yet_saved_compiles(jp_fetch) -> None:
    nb = nbformat.v4.new_notebook(cells=[code("a = 1", "step:one")])
    payload = json.loads(
        (await _post(jp_fetch, {"path": "new/Untitled.ipynb", "content": nb})).body
    )
    assert payload["pipeline"]["steps"][0]["name"] == "one"
    assert payload["publish_defaults"]["name"] == "Untitled"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "request body is not valid JSON: Expecting property name"),
        (b"[1, 2]", "request body must be a JSON object, not a list"),
        (b'{"path": "nb.ipynb"}', "'content' must be an object, not missing"),
        (b'{"path": 3, "content": {}}', "'path' must be a string, not an integer"),
        (b'{"path": "nb.ipynb", "content": []}', "'content' must be an object, not a list"),
        (b'{"path": "nb.ipynb", "content": {}, "x": 1}', "unknown field(s) 'x'"),
        (b"[" * 100_000 + b"]" * 100_000, "request body is not valid JSON"),
    ],
)
async def test_post_bad_bodies_are_400(jp_fetch, body, message) -> None:
    with pytest.raises(HTTPClientError) as excinfo:
        await _post(jp_fetch, body)
    assert excinfo.value.code == 400
    assert message in json.loads(excinfo.value.response.body)["message"]


async def test_post_over_20_mb_is_413(jp_fetch) -> None:
    nb = nbformat.v4.new_notebook(cells=[code("# " + "x" * (21 * 1024 * 1024))])
    body = json.dumps({"path": "nb.ipynb", "content": nb}).encode()
    assert len(body) > 20 * 1024 * 1024
    with pytest.raises(HTTPClientError) as excinfo:
        await _post(jp_fetch, body)
    assert excinfo.value.code == 413
    assert "over the limit of 20971520 bytes" in json.loads(excinfo.value.response.body)["message"]
