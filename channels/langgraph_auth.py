"""Custom auth for the LangGraph API server (``langgraph dev`` / langgraph.json ``"auth"``).

Every request must carry ``Authorization: Bearer <session token>``: the same itsdangerous token the web
API accepts (minted by POST /v1/session or by the host site's backend with ``mint_session_token``),
verified with :func:`memory.secrets.session_secret`. A missing, forged or expired token is refused (401).

The principal a run uses is the verified token's: ``context["principal"]`` (and a ``configurable``
``principal``) sent by the client is overwritten, so nobody can claim another principal. Threads, runs,
crons and store items carry their owner (``metadata.owner``) and are filtered by it: a principal sees
only its own threads. Assistants (the graphs in langgraph.json) are readable by every caller but
cannot be created, changed or deleted through the API.
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

from channels.web.deps import SessionInvalid, bearer_token, verify_session_token
from memory.settings import get_settings

__all__ = ["auth"]

auth = Auth()
_OWNER = "owner"


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """The caller is the principal of a valid session token; anything else is 401."""
    try:
        principal = verify_session_token(get_settings(), bearer_token(authorization))
    except SessionInvalid as exc:
        raise Auth.exceptions.HTTPException(status_code=401, detail=exc.message) from None
    return {
        "identity": principal.key,
        "display_name": str(principal),
        "is_authenticated": True,
        "permissions": [],
    }


def _principal(ctx: Auth.types.AuthContext) -> str:
    return str(getattr(ctx.user, "display_name", "") or ctx.user.identity)


def _own(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Stamp the owner on what is created; filter every read/search/update/delete by it."""
    owner = ctx.user.identity
    if isinstance(value, dict):
        if not isinstance(value.get("metadata"), dict):
            value["metadata"] = {}
        value["metadata"][_OWNER] = owner
    return {_OWNER: owner}


@auth.on.threads.create_run
async def on_run(ctx: Auth.types.AuthContext, value: Auth.types.RunsCreate) -> dict[str, str]:
    """A run acts for the verified principal, whatever the client put in its context."""
    kwargs = value.get("kwargs")
    if isinstance(kwargs, dict):
        principal = _principal(ctx)
        context = kwargs.get("context")
        if not isinstance(context, dict):
            context = kwargs["context"] = {}
        context["principal"] = principal
        config = kwargs.get("config")
        configurable = config.get("configurable") if isinstance(config, dict) else None
        if isinstance(configurable, dict):
            configurable["principal"] = principal
    return _own(ctx, value)


@auth.on.assistants
async def on_assistants(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """The graphs of langgraph.json: readable by every caller, never changed through the API."""
    if ctx.action in ("read", "search"):
        return True
    raise Auth.exceptions.HTTPException(status_code=403, detail="Assistants cannot be changed.")


@auth.on.store
async def on_store(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Store items live under the caller's own namespace."""
    namespace = tuple((value or {}).get("namespace") or ())
    if not namespace or namespace[0] != ctx.user.identity:
        raise Auth.exceptions.HTTPException(status_code=403, detail="Not your namespace.")


@auth.on
async def on_anything_else(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Threads, runs and crons: owned by their creator and visible to it alone."""
    return _own(ctx, value)
