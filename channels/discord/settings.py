"""Discord adapter settings (pydantic-settings, env prefix ``LIBROMIND_DISCORD_``), built at entry points.

- ``LIBROMIND_DISCORD_TOKEN`` the bot token.
- ``LIBROMIND_DISCORD_API_BASE`` REST base (default ``https://discord.com/api/v10``; tests use a fake).
- ``LIBROMIND_DISCORD_UPDATE_INTERVAL`` seconds between progressive edits of an answer (default 1.2;
  Discord allows about 5 edits per 5 s per channel).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DiscordSettings"]


class DiscordSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIBROMIND_DISCORD_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    token: SecretStr | None = Field(default=None, description="Discord bot token.")
    api_base: str = Field(default="https://discord.com/api/v10", description="Discord REST API base URL.")
    update_interval: float = Field(default=1.2, description="Seconds between progressive message edits.")
