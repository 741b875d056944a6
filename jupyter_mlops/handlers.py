"""REST handlers under ``/mlops/api/``: thin adapters from HTTP to :class:`MlopsService`.

Every handler is authenticated (``tornado.web.authenticated``) and authorized against the
``mlops`` resource through jupyter-server's authorizer. Service calls run in the
extension's executor, so SQLite, kernels and MLflow never block the event loop. User
errors become 4xx responses with ``{"message": ...}`` in one place (:meth:`call`).
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from .errors import MlopsError
from .jsonsafe import dumps

AUTH_RESOURCE = "mlops"


class MlopsHandler(ExtensionHandlerMixin, APIHandler):
    """Base handler: runs service calls off the event loop and maps user errors to 4xx."""

    auth_resource = AUTH_RESOURCE

    @property
    def service(self):
        return self.extensionapp.service

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``service.<method>`` in the executor; user errors become HTTP errors."""
        fn = getattr(self.service, method)
        try:
            return await self.extensionapp.run_blocking(fn, *args, **kwargs)
        except MlopsError as exc:
            message = _reason(exc)
            raise web.HTTPError(exc.http_status, message, reason=message[:200]) from None

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(dumps(payload))


def _reason(exc: MlopsError) -> str:
    # One line: APIHandler answers {"message": <log_message>}; the reason phrase is truncated.
    return "; ".join(m.replace("\r", " ").replace("\n", " ") for m in exc.messages)


class InfoHandler(MlopsHandler):
    """``GET /mlops/api/info[?path=NB]`` → ``{"version", "store", "store_how", "registry_uri",
    "registry_how", "mlflow_env", "warnings", ...}`` (for notebook NB when given)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.get_query_argument("path", "") or None
        self.write_json(await self.call("info", path))


def route_table() -> list[tuple[str, type[MlopsHandler]]]:
    """Routes relative to the server's base URL."""
    from . import handlers_models, handlers_pipeline, handlers_runs

    return [
        (r"/mlops/api/info", InfoHandler),
        *handlers_pipeline.routes(),
        *handlers_runs.routes(),
        *handlers_models.routes(),
    ]
