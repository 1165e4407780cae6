"""FastAPI dependencies: resources and the caller's principal (from a signed session token).

A session token is ``itsdangerous`` URL-safe, timestamped and signed with LIBROMIND_SESSION_SECRET;
its payload is a principal string. The host site's backend mints tokens (``mint_session_token``);
the demo page gets a new anonymous customer (its own ``customer:web-<random>``) from POST /v1/session.
No token: 401 ``session_required`` (anonymous callers never share one identity or its threads and cart).
The secret comes from :func:`memory.secrets.session_secret` (configured, or generated in LIBROMIND_HOME).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from memory.principals import Principal, PrincipalError
from memory.secrets import session_secret
from memory.settings import Settings
from tools.deps import Deps, current
from tools.errors import ToolError

__all__ = [
    "SESSION_MAX_AGE_S",
    "SessionInvalid",
    "verify_session_token",
    "bearer_token",
    "get_deps",
    "get_principal",
    "session_principal",
    "SessionRequired",
    "get_settings_dep",
    "mint_session_token",
    "read_session_token",
    "PrincipalDep",
    "DepsDep",
]

SESSION_MAX_AGE_S = 30 * 24 * 3600
_SALT = "libromind-session"


class SessionInvalid(Exception):
    """A session token is missing, expired, forged or malformed (``code``: the error, ``message``: words)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(session_secret(settings), salt=_SALT)


def mint_session_token(settings: Settings, principal: Principal) -> str:
    return _serializer(settings).dumps(str(principal))


def verify_session_token(settings: Settings, token: str | None) -> Principal:
    """The principal a token was signed for; :class:`SessionInvalid` when there is none or it is bad."""
    if not token:
        raise SessionInvalid("session_required", "A session is required: start one with POST /v1/session.")
    try:
        raw = _serializer(settings).loads(token, max_age=SESSION_MAX_AGE_S)
        return Principal.parse(str(raw))
    except SignatureExpired:
        raise SessionInvalid("session_expired", "Your session expired; reload the page.") from None
    except (BadSignature, PrincipalError):
        raise SessionInvalid("bad_session", "Invalid session token.") from None


def read_session_token(settings: Settings, token: str | None) -> Principal:
    try:
        return verify_session_token(settings, token)
    except SessionInvalid as exc:
        raise HTTPException(401, detail={"error": exc.code, "message": exc.message}) from None


def get_deps(request: Request) -> Deps:
    deps = getattr(request.app.state, "deps", None)
    return deps if deps is not None else current()


def get_settings_dep(request: Request) -> Settings:
    return get_deps(request).settings


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    auth = (authorization or "").strip()
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def get_principal(request: Request) -> Principal:
    """The signed session's principal; no token (or a bad one): 401 (never a shared anonymous identity)."""
    return read_session_token(get_settings_dep(request), bearer_token(request.headers.get("authorization")))


class SessionRequired(ToolError):
    """401 with a ``{error, message}`` body (the app's ToolError handler) for a missing or bad session."""

    code = "bad_session"
    http_status = 401


def session_principal(request: Request) -> Principal:
    """Like :func:`get_principal`, answering a bad or missing session as ``{error, message}`` JSON."""
    token = bearer_token(request.headers.get("authorization"))
    try:
        return verify_session_token(get_settings_dep(request), token)
    except SessionInvalid as exc:
        raise SessionRequired(exc.message, code=exc.code) from None


PrincipalDep = Annotated[Principal, Depends(get_principal)]
DepsDep = Annotated[Deps, Depends(get_deps)]
