"""App-level error handlers: every failure that escapes a route answers JSON ``{error, message}``.

* The database is down or unreachable (``psycopg.OperationalError``, pool timeouts,
  :class:`memory.db.DatabaseUnavailable`): 503 ``database_unavailable`` with ``Retry-After``.
* A :class:`tools.errors.ToolError` (bad input, not found, session required, ...): its own status and
  ``{error, message}``, with ``Retry-After`` when it carries one.
* Any other unexpected exception: 500 ``internal``; the details go to the log, never to the client.
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from memory.db import DatabaseUnavailable
from tools.errors import ToolError

__all__ = ["install_error_handlers", "DB_DOWN_MESSAGE", "INTERNAL_MESSAGE"]

log = logging.getLogger(__name__)
DB_DOWN_MESSAGE = (
    "The service is temporarily unavailable (its database cannot be reached). Please try again shortly."
)
INTERNAL_MESSAGE = "Sorry, something went wrong on our side. Please try again."
RETRY_AFTER_S = 5


async def _database_down(request: Request, exc: Exception) -> Response:
    log.error("%s %s: database unavailable: %s", request.method, request.url.path, type(exc).__name__)
    log.debug("database failure", exc_info=exc)
    return JSONResponse(
        {"error": "database_unavailable", "message": DB_DOWN_MESSAGE},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, psycopg.OperationalError | DatabaseUnavailable):
        return await _database_down(request, exc)
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal", "message": INTERNAL_MESSAGE}, status_code=500)


async def _tool_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ToolError)
    headers = {}
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ToolError, _tool_error)
    app.add_exception_handler(psycopg.OperationalError, _database_down)
    app.add_exception_handler(DatabaseUnavailable, _database_down)
    # ``Exception`` is served by Starlette's outermost error middleware: a JSON body instead of text/plain
    app.add_exception_handler(Exception, _unexpected)
