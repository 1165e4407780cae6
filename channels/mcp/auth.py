"""Bearer tokens for the MCP streamable-HTTP transport, mapped to principals with scopes.

Tokens are configured as sha256 hashes (never stored in clear) in ``LIBROMIND_MCP_TOKENS``:
``{"<sha256 hex of token>": {"principal": "agent:claude", "scopes": ["orders", "internal"]}}``.
``libromind mcp token --principal agent:NAME --scopes orders,internal`` mints one.
Scopes: ``orders`` (quote, place and read orders, also through ``ask``), ``internal`` (read internal
documents), ``group:NAME`` (read that group's documents). They bound every principal kind
(``memory.principals.scoped_principal``): an ``employee:`` token without ``internal`` reads public
documents only; a token never gives a customer or employee more than the principal itself may read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from mcp.server.auth.provider import AccessToken
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from memory.principals import Principal, PrincipalError

__all__ = [
    "McpSettings",
    "StaticTokenVerifier",
    "hash_token",
    "mint_token",
    "principal_from_token",
    "KNOWN_SCOPES",
]

KNOWN_SCOPES = ("orders", "internal")


class McpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIBROMIND_MCP_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8100
    tokens: dict[str, dict[str, Any]] = Field(default_factory=dict, description="sha256(token) -> grant")
    # stdio runs as the local user: the principal and scopes it acts with
    stdio_principal: str = "agent:local"
    stdio_scopes: list[str] = Field(default_factory=lambda: ["orders"])

    @field_validator("tokens")
    @classmethod
    def _check(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for digest, grant in v.items():
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                raise ValueError("LIBROMIND_MCP_TOKENS keys must be sha256 hex digests of the tokens")
            try:
                Principal.parse(str(grant.get("principal", "")))
            except PrincipalError as exc:
                raise ValueError(f"LIBROMIND_MCP_TOKENS: {exc}") from exc
        return {k.lower(): g for k, g in v.items()}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint_token() -> tuple[str, str]:
    token = "lm_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


def principal_from_token(access: AccessToken) -> Principal:
    """The token's principal (its scopes are applied by the server, see channels.mcp.server)."""
    return Principal.parse(access.client_id)


class StaticTokenVerifier:
    """TokenVerifier over the configured hashed tokens (constant-time comparison)."""

    def __init__(self, settings: McpSettings) -> None:
        self._grants = dict(settings.tokens)

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = hash_token(token)
        for known, grant in self._grants.items():
            if hmac.compare_digest(known, digest):
                return AccessToken(
                    token=token,
                    client_id=str(grant["principal"]),
                    scopes=[str(s) for s in grant.get("scopes", [])],
                )
        return None
