"""Browser security headers on every response (a pure ASGI middleware: streams such as SSE pass through).

* ``Content-Security-Policy``: our pages load scripts, styles and data only from this origin (the chat
  page's inline ``<style>`` is allowed; no inline script, no plugins, no ``<base>`` tricks). The API
  docs (``/docs``, ``/redoc``) get FastAPI's CDN assets and inline bootstrap script.
* ``frame-ancestors``: only this origin and the sites in LIBROMIND_CORS_ORIGINS may frame our pages
  (``X-Frame-Options: SAMEORIGIN`` for browsers without CSP; CSP-aware browsers use frame-ancestors).
* ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: strict-origin-when-cross-origin``.

The embeddable widget is a script the host page loads (``/static/widget.js``); it keeps working on the
allowed origins because these headers govern our documents, not the host page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "content_security_policy"]

_DOCS_PREFIXES = ("/docs", "/redoc")
_CDN = "https://cdn.jsdelivr.net"


def content_security_policy(frame_ancestors: Iterable[str], *, docs: bool = False) -> str:
    ancestors = " ".join(["'self'", *sorted({o.rstrip("/") for o in frame_ancestors if o and o != "*"})])
    if docs:  # Swagger UI / ReDoc: FastAPI's CDN bundles and their inline bootstrap
        script = f"script-src 'self' 'unsafe-inline' {_CDN}"
        style = f"style-src 'self' 'unsafe-inline' {_CDN} https://fonts.googleapis.com"
        extra = "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; font-src 'self' https://fonts.gstatic.com; worker-src blob:"
    else:
        script = "script-src 'self'"
        style = "style-src 'self' 'unsafe-inline'"
        extra = "img-src 'self' data:; font-src 'self'"
    return "; ".join(
        [
            "default-src 'self'",
            script,
            style,
            extra,
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


class SecurityHeaders:
    """Adds the headers above unless a route already set them."""

    def __init__(self, app: ASGIApp, frame_ancestors: Iterable[str] = ()) -> None:
        self.app = app
        origins = list(frame_ancestors)
        self._common: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"SAMEORIGIN"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]
        self._csp = content_security_policy(origins).encode()
        self._csp_docs = content_security_policy(origins, docs=True).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path") or "")
        csp = self._csp_docs if path.startswith(_DOCS_PREFIXES) else self._csp

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers") or [])
                present = {bytes(k).lower() for k, _ in headers}
                for name, value in [*self._common, (b"content-security-policy", csp)]:
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
