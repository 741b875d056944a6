"""REST handlers under ``/mlops/api/``: thin adapters from HTTP to :class:`MlopsService`.

Every handler is authenticated (``tornado.web.authenticated``) and authorized against the
``mlops`` resource through jupyter-server's authorizer. Service calls run in the
extension's executor, so SQLite, kernels and MLflow never block the event loop. User
errors become 4xx responses with ``{"message": ...}`` in one place (:meth:`call`).
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from .errors import MlopsError
from .jsonsafe import dumps

AUTH_RESOURCE = "mlops"
MAX_BODY = 20 * 1024 * 1024  # bytes of a JSON request body (a notebook as in the editor)


class MlopsHTTPError(web.HTTPError):
    """An HTTP error whose JSON answer carries fields besides ``message`` (``details``)."""

    def __init__(self, status: int, message: str, details: dict[str, Any]) -> None:
        super().__init__(status, message.replace("%", "%%"), reason=message[:200])
        self.details = details


class MlopsHandler(ExtensionHandlerMixin, APIHandler):
    """Base handler: runs service calls off the event loop and maps user errors to 4xx."""

    auth_resource = AUTH_RESOURCE

    @property
    def service(self):
        service = self.extensionapp.service
        service.allow_hidden = bool(getattr(self.contents_manager, "allow_hidden", True))
        return service

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``service.<method>`` in the executor; user errors become HTTP errors."""
        fn = getattr(self.service, method)
        try:
            return await self.extensionapp.run_blocking(fn, *args, **kwargs)
        except MlopsError as exc:
            raise MlopsHTTPError(exc.http_status, _reason(exc), exc.details()) from None

    async def call_isolated(
        self, method: str, *args: Any, store: str | None = None, **kwargs: Any
    ) -> Any:
        """``service.<method>`` in a fresh Python process (:mod:`.server.isolated`), waited
        for in the executor: for work that imports MLflow or scikit-learn, which would hold
        the GIL and stall the event loop (publishing). ``store``: the store to act on (else
        the server's). User errors as in :meth:`call`."""
        from .server import isolated

        app = self.extensionapp
        root = self.service.root_dir
        settings = {"store": store or app.store or None, "registry_uri": app.registry_uri or None,
                    "root_dir": str(root) if root is not None else None,
                    "store_how": "server setting MlopsExtension.store"}  # fmt: skip
        try:
            return await app.run_blocking(isolated.call, settings, method, *args, **kwargs)
        except MlopsError as exc:
            raise MlopsHTTPError(exc.http_status, _reason(exc), exc.details()) from None

    def json_body(self, fields: dict[str, tuple[type, ...]]) -> dict[str, Any]:
        """The request's JSON object, its ``fields`` checked against their allowed types
        (absent = None, allowed when ``type(None)`` is listed): 413 over :data:`MAX_BODY`,
        400 naming the problem otherwise."""
        body = self.request.body or b""
        if len(body) > MAX_BODY:
            raise _error(413, f"request body of {len(body)} bytes is over the limit of "
                         f"{MAX_BODY} bytes (20 MB)")  # fmt: skip
        try:
            data = json.loads(body or b"null")
        except (ValueError, RecursionError) as exc:
            raise _error(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise _error(400, f"request body must be a JSON object, not {_kind(data)}")
        for name, types in fields.items():
            value = data.get(name)
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                wanted = " or ".join(_kind_name(t) for t in types)
                shown = "missing" if name not in data else _kind(value)
                raise _error(400, f"'{name}' must be {wanted}, not {shown}")
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):
                raise _error(400, f"'{name}' must be a list of strings")
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise _error(400, f"unknown field(s) {', '.join(map(repr, unknown))} (known: "
                         f"{', '.join(fields)})")  # fmt: skip
        return data

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """``{"message", ...details}`` for :class:`MlopsHTTPError`; the server's answer else."""
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, MlopsHTTPError):
            self.set_header("Content-Type", "application/json")
            self.finish(dumps({"message": exc.log_message.replace("%%", "%"),
                               "reason": exc.reason, **exc.details}))  # fmt: skip
            return
        super().write_error(status_code, **kwargs)

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(dumps(payload))


def _error(status: int, message: str) -> MlopsHTTPError:
    return MlopsHTTPError(status, message, {})


_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
          int: "an integer", float: "a number", type(None): "null"}  # fmt: skip


def _kind_name(cls: type) -> str:
    return _KINDS.get(cls, cls.__name__)


def _kind(value: Any) -> str:
    return _kind_name(type(value))


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
    from . import (
        handlers_models,
        handlers_pipeline,
        handlers_runs,
        handlers_schedules,
        handlers_verify,
    )

    return [
        (r"/mlops/api/info", InfoHandler),
        *handlers_pipeline.routes(),
        *handlers_runs.routes(),
        *handlers_models.routes(),
        *handlers_verify.routes(),
        *handlers_schedules.routes(),
    ]
