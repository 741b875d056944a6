"""Exceptions that carry a user-facing message, an exit code and an HTTP status.

Every surface (CLI, REST, widget) turns an :class:`MlopsError` into one clear line
instead of a traceback: the CLI prints ``error: <line>`` per message and exits with
``exit_code``; REST answers ``http_status`` with ``{"message": ...}``.
"""

from __future__ import annotations


class MlopsError(Exception):
    """Base class for errors caused by the user's input or state, not by a bug."""

    exit_code = 2
    http_status = 400

    def __init__(self, *messages: str) -> None:
        self.messages = [m for m in messages if m] or ["unknown error"]
        super().__init__("\n".join(self.messages))

    def details(self) -> dict:
        """Structured fields a REST answer adds to ``{"message"}`` (none by default)."""
        return {}


class InvalidInput(MlopsError):
    """The notebook, a parameter or an option is invalid (CLI exit 2, HTTP 400)."""


class NotFound(MlopsError):
    """A file, run or model does not exist (CLI exit 2, HTTP 404)."""

    http_status = 404


class Forbidden(MlopsError):
    """A path outside the server root (CLI exit 2, HTTP 403)."""

    http_status = 403


class RunFailed(MlopsError):
    """A pipeline run ended as failed (CLI exit 1)."""

    exit_code = 1
    http_status = 409


class Conflict(MlopsError):
    """The request does not fit the current state, e.g. cancelling a finished run (HTTP 409)."""

    http_status = 409


class Cancelled(MlopsError):
    """A run was cancelled by the user (CLI exit 130)."""

    exit_code = 130
    http_status = 409


class GateRefused(MlopsError):
    """A publish gate refused the model (CLI exit 3, HTTP 409); ``checks`` holds the gates
    evaluated (``{"gates": [...], "deployability": {...}}``), the failing one last."""

    exit_code = 3
    http_status = 409

    def __init__(self, *messages: str, checks: dict | None = None) -> None:
        super().__init__(*messages)
        self.checks: dict = checks if checks is not None else {}

    def details(self) -> dict:
        return {"checks": self.checks}
