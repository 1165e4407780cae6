"""Request limits for the web app, as pure ASGI middleware (nothing is buffered here).

- :class:`BodyLimit`: a JSON API request body larger than ``LIBROMIND_MAX_JSON_BYTES`` is refused with
  413 ``{error, message}`` *before* it is read: at once when its Content-Length says so, and for a
  chunked body as soon as the bytes received pass the cap (the rest is never read; the route sees a
  disconnected client). ``POST /v1/documents`` is exempt: the upload route streams its body against
  ``LIBROMIND_MAX_UPLOAD_BYTES`` itself (channels/web/routes/documents.py).
- :class:`RateLimit`: per-principal and per-client-IP limits (channels/ratelimit.py) on ``/v1/chat``,
  ``/v1/query``, ``/v1/session`` and uploads; 429 ``{error, message}`` with ``Retry-After``.

The client IP is the ASGI ``client`` address, i.e. what uvicorn reports (behind a reverse proxy, start
uvicorn with ``--forwarded-allow-ips`` set to the proxy so X-Forwarded-For is honoured from it only).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.ratelimit import RateLimited, RateLimiter
from memory.settings import Settings

__all__ = ["BodyLimit", "RateLimit", "install_limits", "RATE_LIMITED_ROUTES", "BODY_EXEMPT"]

log = logging.getLogger(__name__)

RATE_LIMITED_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/v1/chat"): "chat",
    ("POST", "/v1/query"): "chat",
    ("POST", "/v1/session"): "session",
    ("POST", "/v1/documents"): "upload",
}
BODY_EXEMPT: frozenset[tuple[str, str]] = frozenset({("POST", "/v1/documents")})


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    if status == 413:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def _too_large(limit: int) -> dict[str, str]:
    return {
        "error": "too_large",
        "message": f"The request body is larger than the {limit // 1024} KiB limit for this API.",
    }


def _path(scope: Scope) -> str:
    path = str(scope.get("path") or "/")
    return path.rstrip("/") or "/"


class BodyLimit:
    """Cap request bodies at ``limit`` bytes (413), except the routes in ``exempt``."""

    def __init__(self, app: ASGIApp, *, limit: int, exempt: frozenset[tuple[str, str]] = BODY_EXEMPT) -> None:
        self.app, self.limit, self.exempt = app, limit, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope.get("method", ""), _path(scope)) in self.exempt:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode("latin-1").strip()
        if length.isdigit() and int(length) > self.limit:
            log.info("request body refused unread: Content-Length %s > %s", length, self.limit)
            await _send_json(send, 413, _too_large(self.limit))
            return

        state = {"read": 0, "refused": False, "started": False}

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # we already answered 413: drop what the route tries to say
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        async def capped_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > self.limit:
                    log.info("request body refused after %s bytes (limit %s)", state["read"], self.limit)
                    if not state["started"]:
                        await _send_json(send, 413, _too_large(self.limit))
                    state["refused"] = True
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, capped_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise
            log.debug("route failed after its body was refused", exc_info=True)


class RateLimit:
    """Count requests to the limited routes per principal (signed session token) and per client IP."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        bucket = None
        if scope["type"] == "http":
            bucket = RATE_LIMITED_ROUTES.get((scope.get("method", ""), _path(scope)))
        if bucket is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = str(client[0]) if client else None
        try:
            await self.limiter.check(bucket, principal=_principal(scope), ip=ip)
        except RateLimited as exc:
            log.info(
                "rate limited: %s %s (%s, retry in %s s)",
                scope.get("method"),
                _path(scope),
                exc.scope,
                exc.retry_after_s,
            )
            await _send_json(send, 429, exc.to_dict(), {"Retry-After": str(exc.retry_after_s)})
            return
        await self.app(scope, receive, send)


def _principal(scope: Scope) -> str | None:
    """The caller's principal when its bearer token is valid; None otherwise (the route will refuse it)."""
    headers = dict(scope.get("headers") or [])
    if not headers.get(b"authorization", b"").lower().startswith(b"bearer "):
        return None
    from channels.web.deps import get_principal

    try:
        principal = get_principal(Request(scope))
    except Exception:  # noqa: BLE001 - bad/expired token: limited by IP only, refused by the route
        return None
    return str(principal)


def install_limits(app: Any, settings: Settings) -> RateLimiter:
    """Add both middlewares to a Starlette/FastAPI app (call before CORS, so 413/429 carry CORS headers)."""
    limiter = RateLimiter(settings)
    app.add_middleware(BodyLimit, limit=settings.max_json_bytes)
    app.add_middleware(RateLimit, limiter=limiter)
    app.state.rate_limiter = limiter
    return limiter
