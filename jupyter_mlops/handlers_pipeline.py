"""``/mlops/api/pipeline``: the compiled pipeline of a notebook (saved or as in the editor)."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .handlers import MlopsHandler


class CompileHandler(MlopsHandler):
    """``GET /mlops/api/pipeline?path=NB`` → the compiled pipeline (``Pipeline.to_dict()``)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.get_query_argument("path", "")
        self.write_json(await self.call("compile", path))


def routes() -> list[tuple[str, type[MlopsHandler]]]:
    return [(r"/mlops/api/pipeline", CompileHandler)]
