"""``/mlops/api/pipeline``: the compiled pipeline of a notebook (saved or as in the editor)."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .handlers import MlopsHandler


class CompileHandler(MlopsHandler):
    """``GET /mlops/api/pipeline?path=NB`` (the saved notebook) and ``POST`` ``{"path",
    "content"}`` (the notebook as in the editor, unsaved: compiled, never written) →
    ``{"pipeline": Pipeline.to_dict() | null, "errors": [{"cell", "step", "variable", "line",
    "message"}], "warnings": [...], "parameters_schema", "publish_defaults"}``.

    A notebook that does not compile is a 200 with ``errors``; ``cell`` is the 0-based index
    of the cell in the notebook. Paths outside the server root are 403, unknown ones 404.
    """

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.get_query_argument("path", "")
        self.write_json(await self.call("pipeline_view", path))

    @web.authenticated
    @authorized(action="read")  # it only compiles: looking, not changing anything
    async def post(self) -> None:
        body = self.json_body({"path": (str,), "content": (dict,)})
        self.write_json(await self.call("pipeline_view", body["path"], body["content"]))


def routes() -> list[tuple[str, type[MlopsHandler]]]:
    return [(r"/mlops/api/pipeline", CompileHandler)]
