"""Authentication and authorization of EVERY ``/mlops/api`` route, on a real Jupyter server.

``SAMPLES`` holds a request for every method of every route in ``route_table()`` (a route or
method without one fails :func:`test_every_route_and_method_has_a_sample`, so a new route
cannot skip these checks). For each: no token → 403/401; the action asked of the server's
Authorizer on resource ``mlops`` is the one in the table (``read``, ``write`` for publishing and
aliases, ``execute`` for running and cancelling); a read-only Authorizer can look (200) but not
act (403, and nothing happened); a cookie-authenticated mutating request without the XSRF
token is refused. Plus path traversal: ``../..``, absolute paths and symlinks out of the root
are 403 wherever a notebook path is accepted (pipeline, info, runs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import nbformat
import pytest
from jupyter_server.auth.authorizer import Authorizer
from runner_fixtures import code, write_notebook
from tornado import web

from jupyter_mlops.handlers import route_table

NOTEBOOK = nbformat.v4.new_notebook(cells=[code("a = 1", "step:one")])
SECTIONS = nbformat.v4.new_notebook(  # for the split route: a notebook with headings
    cells=[nbformat.v4.new_markdown_cell("## One"), code("a = 1")]
)
RUN, STEP = r"(?P<run_id>[0-9A-Za-z_.-]+)", r"(?P<step>[^/]+)"  # as handlers_runs spells them
SCHED = r"(?P<schedule_id>s-[0-9a-f]+)"  # as handlers_schedules spells it


@dataclass(frozen=True)
class Sample:
    """One request: ``url`` below the base URL ({run}, {model} are filled in), the action the
    Authorizer is asked for, and the status a user allowed to read gets."""

    method: str
    url: str
    action: str
    body: Any = None
    read_status: int = 200


SAMPLES: dict[str, list[Sample]] = {
    r"/mlops/api/info": [Sample("GET", "mlops/api/info", "read")],
    r"/mlops/api/pipeline": [
        Sample("GET", "mlops/api/pipeline?path=nb.ipynb", "read"),
        Sample("POST", "mlops/api/pipeline", "read", {"path": "nb.ipynb", "content": NOTEBOOK}),
    ],
    r"/mlops/api/models": [
        Sample("GET", "mlops/api/models", "read"),
        Sample("POST", "mlops/api/models", "write", {"run_id": "{run}", "name": "auth-denied"}),
    ],
    r"/mlops/api/models/([^/]+)": [Sample("GET", "mlops/api/models/{model}", "read")],
    r"/mlops/api/models/([^/]+)/history": [
        Sample("GET", "mlops/api/models/{model}/history", "read")
    ],
    r"/mlops/api/models/([^/]+)/aliases/([^/]+)": [
        Sample("PUT", "mlops/api/models/{model}/aliases/denied", "write", {"version": 1}),
        Sample("DELETE", "mlops/api/models/{model}/aliases/champion", "write"),
    ],
    r"/mlops/api/runs": [
        Sample("GET", "mlops/api/runs", "read"),
        Sample("POST", "mlops/api/runs", "execute", {"path": "nb.ipynb", "parameters": {}}),
    ],
    r"/mlops/api/split": [
        Sample("POST", "mlops/api/split", "read", {"path": "nb.ipynb", "content": SECTIONS})
    ],
    r"/mlops/api/verify": [
        Sample("POST", "mlops/api/verify", "execute", {"path": "nb.ipynb", "parameters": {}})
    ],
    rf"/mlops/api/runs/{RUN}": [Sample("GET", "mlops/api/runs/{run}", "read")],
    rf"/mlops/api/runs/{RUN}/cancel": [Sample("POST", "mlops/api/runs/{run}/cancel", "execute")],
    rf"/mlops/api/runs/{RUN}/events": [
        Sample("GET", "mlops/api/runs/{run}/events?after=0", "read")
    ],
    rf"/mlops/api/runs/{RUN}/steps/{STEP}/notebook": [
        Sample("GET", "mlops/api/runs/{run}/steps/train/notebook", "read")
    ],
    rf"/mlops/api/runs/{RUN}/steps/{STEP}/log": [
        Sample("GET", "mlops/api/runs/{run}/steps/train/log?offset=0", "read")
    ],
    rf"/mlops/api/runs/{RUN}/report": [Sample("GET", "mlops/api/runs/{run}/report", "read")],
    r"/mlops/api/schedules": [
        Sample("GET", "mlops/api/schedules", "read"),
        Sample("POST", "mlops/api/schedules", "execute", {"path": "nb.ipynb", "cron": "0 3 * * *"}),
    ],
    r"/mlops/api/schedules/preview": [
        Sample("POST", "mlops/api/schedules/preview", "read", {"cron": "0 3 * * *"})
    ],
    rf"/mlops/api/schedules/{SCHED}": [
        Sample("GET", "mlops/api/schedules/s-0000", "read", read_status=404),
        Sample("DELETE", "mlops/api/schedules/s-0000", "execute"),
    ],
    rf"/mlops/api/schedules/{SCHED}/(?P<action>pause|resume|run)": [
        Sample("POST", f"mlops/api/schedules/s-0000/{action}", "execute")
        for action in ("pause", "resume", "run")
    ],
}
METHODS = ("get", "post", "put", "delete", "patch")


def _samples() -> list[tuple[str, Sample]]:
    return [(pattern, s) for pattern, samples in SAMPLES.items() for s in samples]


def test_every_route_and_method_has_a_sample() -> None:
    for pattern, handler in route_table():
        assert pattern in SAMPLES, f"route {pattern} has no sample request in SAMPLES"
        methods = {
            m.upper() for m in METHODS if getattr(handler, m) is not getattr(web.RequestHandler, m)
        }
        sampled = {s.method for s in SAMPLES[pattern]}
        assert methods == sampled, f"{pattern}: methods {methods}, samples for {sampled}"
        for sample in SAMPLES[pattern]:
            path = "/" + sample.url.split("?")[0].format(run="r1", model="m")
            assert re.fullmatch(pattern, path), (pattern, sample.url)
    assert set(SAMPLES) == {p for p, _ in route_table()}, "a sample for a route that is gone"


@pytest.fixture
def world(models_store, jp_root_dir) -> dict:
    """A notebook in the root and the shared store (runs, model ``iris-base`` @champion)."""
    write_notebook(jp_root_dir / "nb.ipynb", [code("a = 1", "step:one")])
    return {"run": models_store["runs"]["good"], "model": "iris-base", **models_store}


@pytest.fixture
def jp_server_config(models_store, monkeypatch) -> dict:
    monkeypatch.delenv("JUPYTER_MLOPS_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MlopsExtension": {"store": str(models_store["store"])},
    }


async def _send(client, base_url: str, world: dict, sample: Sample, headers: dict) -> Any:
    url = base_url.rstrip("/") + "/" + sample.url.format(run=world["run"], model=world["model"])
    body = None
    if sample.body is not None:
        body = json.dumps(sample.body).replace("{run}", world["run"])
    elif sample.method in ("POST", "PUT", "PATCH"):
        body = "{}"
    return await client.fetch(
        url, method=sample.method, body=body, headers=headers, raise_error=False,
        request_timeout=120, follow_redirects=False,
    )  # fmt: skip


def _ids() -> list[str]:
    return [f"{s.method} {s.url}" for _, s in _samples()]


@pytest.mark.parametrize(("pattern", "sample"), _samples(), ids=_ids())
async def test_without_a_token_every_route_is_refused(
    world, http_server_client, jp_base_url, pattern, sample
) -> None:
    response = await _send(http_server_client, jp_base_url, world, sample, {})
    assert response.code in (401, 403), (sample, response.code)


class Recording(Authorizer):
    """Records every question about resource ``mlops`` and refuses them all."""

    asked: list[tuple[str, str, str]] = []

    def is_authorized(self, handler, user, action, resource):
        if resource != "mlops":
            return True
        Recording.asked.append((handler.request.method, handler.request.path, action))
        return False


class ReadOnly(Authorizer):
    """Allows only ``read`` on ``mlops`` (e.g. JupyterHub read-only sharing)."""

    def is_authorized(self, handler, user, action, resource):
        return resource != "mlops" or action == "read"


@pytest.fixture
def recording(jp_server_config) -> None:
    jp_server_config["ServerApp"]["authorizer_class"] = Recording
    Recording.asked.clear()


async def test_the_action_asked_of_the_authorizer(
    recording, world, http_server_client, jp_base_url, jp_auth_header
) -> None:
    for _, sample in _samples():
        response = await _send(http_server_client, jp_base_url, world, sample, jp_auth_header)
        assert response.code == 403, (sample, response.code)
        method, _, action = Recording.asked[-1]
        assert (method, action) == (sample.method, sample.action), sample
    assert len(Recording.asked) == len(_samples())


@pytest.fixture
def read_only(jp_server_config) -> None:
    jp_server_config["ServerApp"]["authorizer_class"] = ReadOnly


async def test_a_read_only_user_can_look_but_not_act(
    read_only, world, http_server_client, jp_base_url, jp_auth_header
) -> None:
    from jupyter_mlops.service import MlopsService

    service = MlopsService.create(store=str(world["store"]))
    runs = service.runs(limit=1000)
    for _, sample in _samples():
        response = await _send(http_server_client, jp_base_url, world, sample, jp_auth_header)
        expected = sample.read_status if sample.action == "read" else 403
        assert response.code == expected, (sample, response.code, response.body[:300])
    # nothing happened: no run started or cancelled, no model published, aliases untouched
    assert service.runs(limit=1000) == runs
    assert "auth-denied" not in {m["name"] for m in service.models()}
    assert service.models(world["model"])["aliases"] == {"champion": 1}


async def test_a_cookie_authenticated_change_needs_the_xsrf_token(
    world, http_server_client, jp_base_url, jp_auth_header
) -> None:
    info = Sample("GET", "mlops/api/info", "read")
    login = await _send(http_server_client, jp_base_url, world, info, jp_auth_header)
    cookies = [c.split(";")[0] for c in login.headers.get_list("Set-Cookie")]
    assert any(c.startswith("username-") for c in cookies), cookies
    cookie = "; ".join(c for c in cookies if not c.startswith("_xsrf="))
    # the cookie alone authenticates a GET...
    response = await _send(http_server_client, jp_base_url, world, info, {"Cookie": cookie})
    assert response.code == 200
    changes = [s for _, s in _samples() if s.method != "GET"]
    assert {s.method for s in changes} == {"POST", "PUT", "DELETE"}
    for sample in changes:
        # ...but a change without the XSRF token is refused before it reaches the route
        response = await _send(http_server_client, jp_base_url, world, sample, {"Cookie": cookie})
        assert response.code == 403, (sample, response.code)
        assert b"XSRF" in response.body or b"_xsrf" in response.body, response.body[:200]
    # with the token (cookie + header), the same cookie session passes the check
    xsrf = {"Cookie": f"{cookie}; _xsrf=0123456789abcdef", "X-XSRFToken": "0123456789abcdef"}
    compile_it = SAMPLES[r"/mlops/api/pipeline"][1]
    response = await _send(http_server_client, jp_base_url, world, compile_it, xsrf)
    assert response.code == 200, response.body[:300]


@pytest.fixture
def outside(jp_root_dir) -> None:
    """A notebook outside the root, and a symlink to it inside."""
    target = jp_root_dir.parent / "outside" / "secret.ipynb"
    write_notebook(target, [code("secret = 1", "step:secret")])
    (jp_root_dir / "link.ipynb").symlink_to(target)


@pytest.mark.parametrize("path", ["../../etc/passwd", "../outside/secret.ipynb", "/etc/passwd",
                                  "link.ipynb"])  # fmt: skip
async def test_paths_out_of_the_root_are_403(
    outside, world, http_server_client, jp_base_url, jp_auth_header, path
) -> None:
    from urllib.parse import quote

    requests = [
        Sample("GET", f"mlops/api/pipeline?path={quote(path)}", "read"),
        Sample("POST", "mlops/api/pipeline", "read", {"path": path, "content": NOTEBOOK}),
        Sample("GET", f"mlops/api/info?path={quote(path)}", "read"),
        Sample("GET", f"mlops/api/runs?path={quote(path)}", "read"),
        Sample("POST", "mlops/api/runs", "execute", {"path": path, "parameters": {}}),
    ]
    for sample in requests:
        response = await _send(http_server_client, jp_base_url, world, sample, jp_auth_header)
        assert response.code == 403, (sample, response.code)
        body = json.loads(response.body)
        assert "server root" in body["message"]
        assert "secret = 1" not in response.body.decode()
