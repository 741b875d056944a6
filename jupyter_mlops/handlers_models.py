"""``/mlops/api/models``: registered models, publishing, aliases and history.

Publishing and alias changes are action ``write`` on resource ``mlops``; the rest ``read``.
Model names and aliases arrive URL-decoded (tornado) and are checked against the registry's
name rule before anything is looked up.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .errors import MlopsError
from .handlers import MlopsHandler, MlopsHTTPError

NAME = r"([^/]+)"


def _checked(name: str, alias: str | None = None) -> None:
    from .registry.names import validate_names

    try:
        validate_names(name, [alias] if alias is not None else [])
    except MlopsError as exc:
        raise MlopsHTTPError(exc.http_status, exc.messages[0], {}) from None


class ModelsHandler(MlopsHandler):
    """``GET`` → ``{"models": [...]}``; ``POST {"run_id", "name", "description", "aliases",
    "require", "must_beat"}`` publishes the run → 201 ``{"name", "version", "uri", "aliases",
    "checks", ...}``; refused by a gate or the deployability check → 409 ``{"message",
    "checks"}`` and nothing is created. Fields left out (or null) come from the run's
    notebook's saved publish settings."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"models": await self.call("models")})

    @web.authenticated
    @authorized(action="write")
    async def post(self) -> None:
        text, texts = (str, type(None)), (list, type(None))
        body = self.json_body({"run_id": (str,), "name": text, "description": text,
                               "aliases": texts, "require": texts, "must_beat": text,
                               "promote": text})  # fmt: skip
        if body.get("name") is not None:
            _checked(body["name"])
        result = await self.call_isolated(  # MLflow and the model's libraries: not in here
            "publish", body["run_id"], body.get("name"), description=body.get("description"),
            aliases=body.get("aliases"), require=body.get("require"),
            must_beat=body.get("must_beat"), promote=body.get("promote"),
            store=await self._store_of(body["run_id"]),
        )  # fmt: skip
        self.write_json(result, status=201)

    async def _store_of(self, run_id: str) -> str | None:
        """The store holding ``run_id`` among those the server knows (a notebook's project
        may have its own); None: the server's own (the child then names an unknown run)."""
        app = self.extensionapp
        if app.store or run_id == "latest":
            return None
        try:
            found = await app.run_manager(app.runs.find, run_id)
        except MlopsError:
            return None
        return str(found.root)


class ModelHandler(MlopsHandler):
    """``GET /mlops/api/models/{name}`` → the model: aliases, versions with metrics, aliases,
    run id, created, ``card`` (the model card, Markdown)."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        _checked(name)
        self.write_json(await self.call("model", name))


class AliasHandler(MlopsHandler):
    """``PUT /mlops/api/models/{name}/aliases/{alias} {"version"}`` → ``{"name", "alias",
    "version", "previous"}``; ``DELETE`` → the same with ``version`` null."""

    @web.authenticated
    @authorized(action="write")
    async def put(self, name: str, alias: str) -> None:
        _checked(name, alias)
        body = self.json_body({"version": (int, str)})
        event = await self.call("set_alias", name, alias, body["version"])
        self.write_json(_alias_answer(name, alias, event))

    @web.authenticated
    @authorized(action="write")
    async def delete(self, name: str, alias: str) -> None:
        _checked(name, alias)
        event = await self.call("delete_alias", name, alias)
        self.write_json(_alias_answer(name, alias, event))


def _alias_answer(name: str, alias: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "alias": alias,
        "version": event.get("to_version"),
        "previous": event.get("from_version"),
        "event": event,
    }


class HistoryHandler(MlopsHandler):
    """``GET /mlops/api/models/{name}/history`` → ``{"events": [...]}``, oldest first."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        _checked(name)
        self.write_json({"events": await self.call("history", name)})


def routes() -> list[tuple[str, type[MlopsHandler]]]:
    return [
        (r"/mlops/api/models", ModelsHandler),
        (rf"/mlops/api/models/{NAME}/history", HistoryHandler),
        (rf"/mlops/api/models/{NAME}/aliases/{NAME}", AliasHandler),
        (rf"/mlops/api/models/{NAME}", ModelHandler),
    ]
