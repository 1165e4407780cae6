"""Slack adapter settings (pydantic-settings, env prefix ``LIBROMIND_SLACK_``), built at entry points.

- ``LIBROMIND_SLACK_SIGNING_SECRET`` verifies HTTP requests (``X-Slack-Signature``; stale timestamps refused).
  Required in HTTP mode; a blank value counts as unset (an empty key would make signatures forgeable).
- ``LIBROMIND_SLACK_BOT_TOKEN`` (``xoxb-...``) calls the Web API.
- ``LIBROMIND_SLACK_APP_TOKEN`` (``xapp-...``) is needed only for Socket Mode (``libromind slack --socket``).
- ``LIBROMIND_SLACK_GROUPS`` JSON mapping Slack user id -> document groups,
  e.g. ``{"U012AB3CD": ["staff", "orders"]}``; a user maps to ``employee:<user id>`` with those groups.
  Only full members of the workspace get them (and ``internal``).
- ``LIBROMIND_SLACK_GUEST_GROUPS`` JSON mapping the user id of a guest / external (Slack Connect) user ->
  document groups they may read besides ``public`` (default: none; they never read ``internal``).
- ``LIBROMIND_SLACK_BASE_URL`` Web API base (default ``https://slack.com/api/``; tests point it at a fake).
"""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SlackSettings"]

_GROUP_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


class SlackSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIBROMIND_SLACK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    signing_secret: SecretStr | None = Field(default=None, description="Slack app signing secret.")
    bot_token: SecretStr | None = Field(default=None, description="Bot token (xoxb-...).")
    app_token: SecretStr | None = Field(
        default=None, description="App-level token for Socket Mode (xapp-...)."
    )
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Slack user id -> document groups (JSON); full members only."
    )
    guest_groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Guest / external (Slack Connect) user id -> document groups besides public (JSON); "
        "default: public only, never internal.",
    )
    base_url: str = Field(default="https://slack.com/api/", description="Slack Web API base URL.")
    update_interval: float = Field(default=0.7, description="Seconds between progressive chat.update calls.")
    audience_ttl: float = Field(default=60.0, description="Seconds a channel's audience (ACL) is cached.")
    max_members: int = Field(default=500, description="Larger channels are answered from public documents.")

    @field_validator("signing_secret", "bot_token", "app_token", mode="after")
    @classmethod
    def _blank_is_unset(cls, v: SecretStr | None) -> SecretStr | None:
        """An empty or blank secret is no secret: treat it as unset, so start-up refuses it."""
        if v is None or not v.get_secret_value().strip():
            return None
        return v

    @field_validator("groups", "guest_groups", mode="after")
    @classmethod
    def _groups(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for user, groups in v.items():
            clean = sorted({g.strip().lower() for g in groups if g.strip()})
            for g in clean:
                if not _GROUP_RE.match(g):
                    raise ValueError(f"invalid group name {g!r} for Slack user {user}")
            out[user.strip()] = clean
        return out

    @field_validator("base_url", mode="after")
    @classmethod
    def _slash(cls, v: str) -> str:
        return v if v.endswith("/") else v + "/"

    def groups_of(self, user_id: str) -> tuple[str, ...]:
        return tuple(self.groups.get(user_id, ()))

    def http_ready(self) -> str | None:
        """Why HTTP mode cannot start (``None`` when it can)."""
        if self.signing_secret is None:
            return (
                "LIBROMIND_SLACK_SIGNING_SECRET is not set (an empty secret would make signatures forgeable)"
            )
        return None
