"""Discord integration fixtures: the real ChatService on the embedded PostgreSQL, a fake Discord REST API,
and a logged-in ``DiscordBot`` fed gateway events through its connection's parsers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from channels.discord.bot import DiscordBot
from channels.discord.settings import DiscordSettings
from tests.integration.discord.fake_discord import APP_ID, BOT_USER, NOW, FakeDiscord, user
from tools.deps import Deps

GUILD = "800000000000000001"
CHANNEL = "800000000000000002"
DM = "800000000000000003"
ALICE = user("700000000000000001", "alice")
BOB = user("700000000000000002", "bob")


def member(u: dict[str, Any]) -> dict[str, Any]:
    return {"user": u, "roles": [], "joined_at": NOW, "deaf": False, "mute": False, "flags": 0}


def guild_payload() -> dict[str, Any]:
    return {
        "id": GUILD,
        "name": "Bookshop",
        "icon": None,
        "owner_id": ALICE["id"],
        "unavailable": False,
        "member_count": 3,
        "large": False,
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": [
            {
                "id": GUILD,
                "name": "@everyone",
                "permissions": "1071698660929",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "channels": [
            {
                "id": CHANNEL,
                "type": 0,
                "name": "general",
                "position": 0,
                "guild_id": GUILD,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                "topic": None,
                "rate_limit_per_user": 0,
                "last_message_id": None,
            }
        ],
        "threads": [],
        "members": [member(BOT_USER)],
        "voice_states": [],
        "presences": [],
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "system_channel_flags": 0,
        "joined_at": NOW,
    }


def message_payload(
    mid: str,
    channel_id: str,
    author: dict[str, Any],
    content: str,
    *,
    guild: bool = True,
    mention_bot: bool = True,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": mid,
        "channel_id": channel_id,
        "author": author,
        "content": content,
        "timestamp": NOW,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [BOT_USER] if mention_bot else [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
    }
    if guild:
        data["guild_id"] = GUILD
        data["member"] = {k: v for k, v in member(author).items() if k != "user"}
    return data


def reaction_payload(user_id: str, channel_id: str, message_id: str, emoji: str) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "channel_id": channel_id,
        "message_id": message_id,
        "guild_id": GUILD,
        "emoji": {"id": None, "name": emoji},
        "burst": False,
        "type": 0,
        "member": member(ALICE if user_id == ALICE["id"] else BOB),
    }


def button_payload(
    iid: str, who: dict[str, Any], channel_id: str, message: dict[str, Any], custom_id: str
) -> dict[str, Any]:
    thread = {
        "id": channel_id,
        "type": 11,
        "guild_id": GUILD,
        "parent_id": CHANNEL,
        "name": "question",
        "owner_id": BOT_USER["id"],
        "message_count": 1,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "flags": 0,
        "permissions": "1071698660929",
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": NOW,
            "locked": False,
        },
    }
    return {
        "id": iid,
        "application_id": APP_ID,
        "type": 3,
        "token": f"tok-{iid}",
        "version": 1,
        "channel_id": channel_id,
        "channel": thread,
        "guild_id": GUILD,
        "member": {**member(who), "permissions": "0"},
        "message": message,
        "data": {"custom_id": custom_id, "component_type": 2},
        "app_permissions": "0",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {},
        "context": 0,
        "attachment_size_limit": 10485760,
    }


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = await FakeDiscord().start()
    fake.guild_of[CHANNEL] = GUILD
    yield fake
    await fake.stop()


@pytest.fixture
async def service(deps: Deps) -> Any:
    from agent.service import ChatService

    return await ChatService.create(deps)


@pytest.fixture
async def bot(service: Any, deps: Deps, fake_discord: FakeDiscord) -> AsyncIterator[DiscordBot]:
    settings = DiscordSettings(
        token="test-token",
        api_base=fake_discord.api_base,
        update_interval=0.0,  # type: ignore[call-arg]
        _env_file=None,
    )
    client = DiscordBot(settings, service, deps.db)
    await client.login("test-token")
    assert client.user is not None and str(client.user.id) == BOT_USER["id"]
    client._connection.parse_guild_create(guild_payload())
    assert client.get_guild(int(GUILD)) is not None
    yield client
    await client.drain()
    await client.close()
    discord.http.Route.BASE = "https://discord.com/api/v10"


@pytest.fixture
async def corpus(deps: Deps) -> Deps:
    from tests.integration.slack.conftest import DOCS
    from tools.knowledge import ingest_paths

    res = await ingest_paths([DOCS / "returns.md"], "public")
    assert res["failed"] == 0, f"test corpus could not be ingested: {res['documents']}"
    return deps
