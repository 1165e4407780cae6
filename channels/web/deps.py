"""FastAPI dependencies: resources and the caller's principal (from a signed session token).

A session token is ``itsdangerous`` URL-safe, timestamped and signed with LIBROMIND_SESSION_SECRET;
its payload is a principal string. The host site's backend mints tokens (``mint_session_token``);
the demo page gets an anonymous customer token from POST /v1/session. No token: customer:anonymous.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from memory.principals import ANONYMOUS, Principal, PrincipalError
from memory.settings import Settings
from tools.deps import Deps, current

__all__ = [
    "SESSION_MAX_AGE_S",
    "get_deps",
    "get_principal",
    "get_settings_dep",
    "mint_session_token",
    "read_session_token",
    "PrincipalDep",
    "DepsDep",
]

SESSION_MAX_AGE_S = 30 * 24 * 3600
_SALT = "libromind-session"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.session_secret.get_secret_value(), salt=_SALT)


def mint_session_token(settings: Settings, principal: Principal) -> str:
    return _serializer(settings).dumps(str(principal))


def read_session_token(settings: Settings, token: str) -> Principal:
    try:
        raw = _serializer(settings).loads(token, max_age=SESSION_MAX_AGE_S)
        return Principal.parse(str(raw))
    except SignatureExpired:
        raise HTTPException(
            401, detail={"error": "session_expired", "message": "Your session expired; reload the page."}
        ) from None
    except (BadSignature, PrincipalError):
        raise HTTPException(
            401, detail={"error": "bad_session", "message": "Invalid session token."}
        ) from None


def get_deps(request: Request) -> Deps:
    deps = getattr(request.app.state, "deps", None)
    return deps if deps is not None else current()


def get_settings_dep(request: Request) -> Settings:
    return get_deps(request).settings


def get_principal(request: Request) -> Principal:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return read_session_token(get_settings_dep(request), auth[7:].strip())
    return ANONYMOUS


PrincipalDep = Annotated[Principal, Depends(get_principal)]
DepsDep = Annotated[Deps, Depends(get_deps)]
