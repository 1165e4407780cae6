"""The Discord adapter end to end: gateway events fed through the client's parsers -> real ChatService
(embedded PostgreSQL) -> REST calls recorded by a local fake Discord API."""

from __future__ import annotations

from typing import Any

from channels.discord.bot import DiscordBot
from channels.web import metrics
from tests.integration.discord.conftest import (
    ALICE,
    BOB,
    CHANNEL,
    DM,
    GUILD,
    message_payload,
    reaction_payload,
)
from tests.integration.discord.fake_discord import FakeDiscord


async def _ask_in_guild(
    bot: DiscordBot, fake: FakeDiscord, text: str, mid: str = "600000000000000001"
) -> tuple[str, Any]:
    bot._connection.parse_message_create(message_payload(mid, CHANNEL, ALICE, f"<@{bot.user.id}> {text}"))
    await bot.drain()
    threads = await fake.wait_for("POST", f"/channels/{CHANNEL}/messages/{mid}/threads")
    thread_id = [k for k, v in fake.guild_of.items() if k != CHANNEL][-1]
    assert threads[0].body["name"] == text[:90]
    edits = await fake.wait_for("PATCH", f"/channels/{thread_id}/messages/")
    return thread_id, edits[-1]


async def test_guild_mention_is_answered_in_a_new_thread(
    bot: DiscordBot, fake_discord: FakeDiscord, deps: Any
) -> None:
    thread_id, final = await _ask_in_guild(bot, fake_discord, "What is the return policy for books?")
    posted = fake_discord.of("POST", f"/channels/{thread_id}/messages")
    assert posted and posted[0].body["content"] == "Thinking…"
    assert final.body["content"] and final.body["content"] != "Thinking…"
    rows = await deps.db.fetch("SELECT * FROM channel_messages WHERE platform = 'discord'")
    assert len(rows) == 1 and rows[0]["channel_id"] == thread_id
    assert rows[0]["principal"] == f"customer:discord-{ALICE['id']}" and rows[0]["answer_id"]
    # other guild chatter (no mention) is ignored
    bot._connection.parse_message_create(
        message_payload("600000000000000099", CHANNEL, BOB, "hello all", mention_bot=False)
    )
    await bot.drain()
    assert [c.path for c in fake_discord.of("POST", f"/channels/{CHANNEL}/")] == [
        f"/channels/{CHANNEL}/messages/600000000000000001/threads"
    ]


async def test_reply_content_includes_citations_like_the_web_channel(
    bot: DiscordBot, fake_discord: FakeDiscord, corpus: Any, service: Any
) -> None:
    question = "Within how many days can purchases be returned?"
    _, final = await _ask_in_guild(bot, fake_discord, question)
    web = await service.ask(f"customer:discord-{ALICE['id']}", "web-1", question, channel="web")
    assert web["citations"]
    content = final.body["content"]
    assert "**Sources**" in content and "returns.md" in content
    assert content.startswith(web["answer"].strip()[:80])


async def test_dm_is_answered_inline(bot: DiscordBot, fake_discord: FakeDiscord) -> None:
    bot._connection.parse_message_create(
        message_payload(
            "600000000000000002", DM, ALICE, "What is the shipping time?", guild=False, mention_bot=False
        )
    )
    await bot.drain()
    posted = await fake_discord.wait_for("POST", f"/channels/{DM}/messages")
    assert posted[0].body["message_reference"]["message_id"] in ("600000000000000002", 600000000000000002)
    assert fake_discord.of("POST", "/channels/") == posted  # no thread in a DM
    await fake_discord.wait_for("PATCH", f"/channels/{DM}/messages/")


async def test_replayed_message_is_not_answered_twice(bot: DiscordBot, fake_discord: FakeDiscord) -> None:
    payload = message_payload(
        "600000000000000003", DM, ALICE, "What is the shipping time?", guild=False, mention_bot=False
    )
    bot._connection.parse_message_create(payload)
    await bot.drain()
    bot._connection.parse_message_create(payload)
    await bot.drain()
    assert len(fake_discord.of("POST", f"/channels/{DM}/messages")) == 1


async def test_reactions_are_stored_as_feedback(
    bot: DiscordBot, fake_discord: FakeDiscord, deps: Any
) -> None:
    thread_id, final = await _ask_in_guild(bot, fake_discord, "What is the return policy?")
    answer_msg = final.path.rsplit("/", 1)[-1]
    row = await deps.db.fetchrow("SELECT answer_id FROM channel_messages WHERE message_id = %s", answer_msg)
    bot._connection.parse_message_reaction_add(reaction_payload(ALICE["id"], thread_id, answer_msg, "👍"))
    await bot.drain()
    fb = await deps.db.fetch("SELECT * FROM feedback WHERE answer_id = %s", row["answer_id"])
    assert [(f["principal"], f["score"], f["channel"]) for f in fb] == [
        (f"customer:discord-{ALICE['id']}", 1, "discord")
    ]
    bot._connection.parse_message_reaction_add(reaction_payload(BOB["id"], thread_id, answer_msg, "👎"))
    bot._connection.parse_message_reaction_add(reaction_payload(ALICE["id"], thread_id, answer_msg, "👎🏽"))
    await bot.drain()
    fb = await deps.db.fetch("SELECT * FROM feedback WHERE answer_id = %s", row["answer_id"])
    assert [(f["principal"], f["score"]) for f in fb] == [(f"customer:discord-{ALICE['id']}", -1)]


async def test_a_failure_is_told_to_the_user_and_counted(bot: DiscordBot, fake_discord: FakeDiscord) -> None:
    class Broken:
        async def stream(self, *a: Any, **k: Any) -> Any:
            raise RuntimeError("the index is on fire")
            yield  # pragma: no cover

    bot.service = Broken()
    before = metrics.value(
        "libromind_chat_failures_total", channel="discord", endpoint="message", kind="RuntimeError"
    )
    bot._connection.parse_message_create(
        message_payload(
            "600000000000000004", DM, ALICE, "What is the shipping time?", guild=False, mention_bot=False
        )
    )
    await bot.drain()
    edits = await fake_discord.wait_for("PATCH", f"/channels/{DM}/messages/")
    content = edits[-1].body["content"]  # told in words with a reference, never the exception text
    assert content.startswith("Sorry, something went wrong. Please try again. (reference ")
    assert "on fire" not in content and "RuntimeError" not in content
    assert (
        metrics.value(
            "libromind_chat_failures_total", channel="discord", endpoint="message", kind="RuntimeError"
        )
        == before + 1
    )
    assert GUILD
