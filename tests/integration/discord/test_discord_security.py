"""Failures reach Discord users in words with a reference, never with the exception text (issue 12, item
8): gateway events fed through the client's parsers, REST calls recorded by the fake Discord API."""

from __future__ import annotations

import json
from typing import Any

from channels.discord.bot import DiscordBot
from tests.integration.discord.conftest import (
    ALICE,
    CHANNEL,
    DM,
    button_payload,
    message_payload,
    reaction_payload,
)
from tests.integration.discord.fake_discord import FakeDiscord

DSN_SECRET = "hunter2-Sup3rSecret"
DSN = f"connection to postgresql://libromind:{DSN_SECRET}@db.internal:5432/prod failed"
WORDED = "Sorry, something went wrong. Please try again. (reference "


class _RaisingGraph:
    """The real compiled graph, except that running a turn fails with a secret-looking message."""

    def __init__(self, graph: Any) -> None:
        self._graph = graph

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)

    async def astream(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError(DSN)
        yield  # pragma: no cover


async def _raise(*a: Any, **k: Any) -> Any:
    raise RuntimeError(DSN)


def _nothing_leaked(fake: FakeDiscord) -> None:
    sent = json.dumps([c.body for c in fake.calls], default=str)
    assert DSN_SECRET not in sent and "postgresql://" not in sent and "RuntimeError" not in sent, sent


async def test_a_failing_turn_is_told_in_words_without_the_exception_text(
    bot: DiscordBot, fake_discord: FakeDiscord, service: Any
) -> None:
    # the real ChatService turns the failure into an error event carrying str(exc)
    service.graph = _RaisingGraph(service.graph)
    bot._connection.parse_message_create(
        message_payload("600000000000000041", DM, ALICE, "What is the return policy?", guild=False)
    )
    await bot.drain()
    content = (await fake_discord.wait_for("PATCH", f"/channels/{DM}/messages/"))[-1].body["content"]
    assert content.startswith(WORDED), content

    class Broken:  # a service that raises outright, in a guild thread this time
        stream = staticmethod(lambda *a, **k: _raise())

    bot.service = Broken()
    bot._connection.parse_message_create(
        message_payload("600000000000000042", CHANNEL, ALICE, f"<@{bot.user.id}> shipping time?")
    )
    await bot.drain()
    thread_id = [k for k in fake_discord.guild_of if k != CHANNEL][-1]
    content = (await fake_discord.wait_for("PATCH", f"/channels/{thread_id}/messages/"))[-1].body["content"]
    assert content.startswith(WORDED), content
    _nothing_leaked(fake_discord)


async def test_failed_feedback_and_buttons_are_told_in_words(
    bot: DiscordBot, fake_discord: FakeDiscord, service: Any, deps: Any
) -> None:
    bot._connection.parse_message_create(
        message_payload("600000000000000043", CHANNEL, ALICE, f"<@{bot.user.id}> What is the return policy?")
    )
    await bot.drain()
    thread_id = [k for k in fake_discord.guild_of if k != CHANNEL][-1]
    final = (await fake_discord.wait_for("PATCH", f"/channels/{thread_id}/messages/"))[-1]
    answer_id = final.path.rsplit("/", 1)[-1]
    posted_before = len(fake_discord.of("POST", f"/channels/{thread_id}/messages"))

    service.feedback = _raise
    bot._connection.parse_message_reaction_add(reaction_payload(ALICE["id"], thread_id, answer_id, "👍"))
    await bot.drain()
    told = await fake_discord.wait_for("POST", f"/channels/{thread_id}/messages", count=posted_before + 1)
    content = told[-1].body["content"]
    assert content.startswith("Sorry, your reaction was not recorded. Please try again. (reference "), content

    bot.store.lookup = _raise  # type: ignore[method-assign]
    message = dict(fake_discord.messages[answer_id])
    bot._connection.parse_interaction_create(
        button_payload("500000000000000041", ALICE, thread_id, message, "libromind:confirm:q_1")
    )
    await bot.drain()
    told = await fake_discord.wait_for("POST", f"/channels/{thread_id}/messages", count=posted_before + 2)
    assert told[-1].body["content"].startswith(WORDED), told[-1].body
    _nothing_leaked(fake_discord)
