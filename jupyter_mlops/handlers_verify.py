"""``/mlops/api/split`` (proposed tags, read) and ``/mlops/api/verify`` (execute) ([V]).

Split only compiles (action ``read``, like the pipeline route) and never writes the notebook:
the panel applies the proposed tags itself. Verify runs code (action ``execute``, like
starting a run); it runs in a fresh Python process waited for in the extension's executor,
so kernels, papermill and the value comparison never touch the event loop.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .handlers import MlopsHandler, _error

_NULL = type(None)


class SplitHandler(MlopsHandler):
    """``POST /mlops/api/split {"path", "by", "content"}`` → ``{"by", "cells", "steps",
    "pipeline", "warnings", "message"}``; 400 for a notebook without headings."""

    @web.authenticated
    @authorized(action="read")  # it only proposes: nothing is written
    async def post(self) -> None:
        body = self.json_body({"path": (str,), "by": (str, _NULL), "content": (dict, _NULL)})
        if not body["path"]:
            raise _error(400, "'path' (the notebook, relative to the server root) is required")
        by = body.get("by") or "auto"
        self.write_json(await self.call("split", body["path"], by, body.get("content")))


class VerifyHandler(MlopsHandler):
    """``POST /mlops/api/verify {"path", "parameters", "tolerance"}`` → ``{"equal",
    "message", "difference", "compared", "seconds"}`` (200 also when the results differ)."""

    @web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        body = self.json_body(
            {"path": (str,), "parameters": (dict, _NULL), "tolerance": (int, float, _NULL)}
        )
        path = body["path"]
        if not path:
            raise _error(400, "'path' (the notebook, relative to the server root) is required")
        await self.call("notebook_path", path)  # 403/404 at once, before a process starts
        result = await self.call_isolated(
            "verify", path, body.get("parameters") or {}, tolerance=body.get("tolerance")
        )
        self.write_json(result)


def routes() -> list[tuple[str, type[MlopsHandler]]]:
    return [(r"/mlops/api/split", SplitHandler), (r"/mlops/api/verify", VerifyHandler)]
