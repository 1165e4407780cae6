"""Errors tools raise; channels turn them into clear user-facing messages (and HTTP codes)."""

from __future__ import annotations

__all__ = ["ToolError", "InvalidInput", "NotFound", "Forbidden", "Conflict", "Unavailable"]


class ToolError(Exception):
    """A failure with a stable machine code and a clear sentence for the user."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


class InvalidInput(ToolError):
    code = "invalid_input"
    http_status = 422


class NotFound(ToolError):
    code = "not_found"
    http_status = 404


class Forbidden(ToolError):
    code = "forbidden"
    http_status = 403


class Conflict(ToolError):
    code = "conflict"
    http_status = 409


class Unavailable(ToolError):
    code = "unavailable"
    http_status = 503
