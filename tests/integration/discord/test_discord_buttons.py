"""Button plumbing (gateway INTERACTION_CREATE -> callback REST calls) with a scripted ChatService stand-in,
so the interaction path is covered even without a catalog (the real-service test is test_discord_orders)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from channels.discord.bot import DiscordBot
from tests.integration.discord.conftest import ALICE, BOB, CHANNEL, button_payload, message_payload
from tests.integration.discord.fake_discord import FakeDiscord

QUOTE = {
    "quote_id": "q_1",
    "items": [
        {
            "isbn": "9780195153446",
            "title": "Classical Mythology",
            "quantity": 1,
            "unit_price_cents": 1299,
            "line_total_cents": 1299,
        }
    ],
    "total_cents": 1299,
    "currency": "USD",
    "demo_price": True,
}


class Scripted:
    def __init__(self) -> None:
        self.turns: list[str] = []
        self.pending: dict | None = None

    async def stream(self, principal: Any, thread: str, message: str, *, channel: str) -> AsyncIterator[dict]:
        self.turns.append(message)
        if message == "yes":
            self.pending = None
            yield {
                "type": "final",
                "reply": {
                    "answer": "Order ord_123 placed.",
                    "order": {"id": "ord_123"},
                    "citations": [],
                    "answer_id": None,
                },
            }
            return
        self.pending = QUOTE
        yield {"type": "confirm", "quote": QUOTE}
        yield {
            "type": "final",
            "reply": {
                "answer": "Please confirm this order.",
                "citations": [],
                "answer_id": None,
                "quote": QUOTE,
            },
        }

    async def pending_quote(self, principal: Any, thread: str, *, channel: str) -> dict | None:
        return self.pending


async def test_buttons_only_for_the_asker_and_only_once(bot: DiscordBot, fake_discord: FakeDiscord) -> None:
    service = Scripted()
    bot.service = service
    bot._connection.parse_message_create(
        message_payload("600000000000000020", CHANNEL, ALICE, f"<@{bot.user.id}> order Classical Mythology")
    )
    await bot.drain()
    thread_id = [k for k in fake_discord.guild_of if k != CHANNEL][-1]
    final = (await fake_discord.wait_for("PATCH", f"/channels/{thread_id}/messages/"))[-1]
    assert (
        "Classical Mythology" in final.body["content"]
        and "Total: $12.99 (demo prices)" in final.body["content"]
    )
    custom_ids = [c["custom_id"] for row in final.body["components"] for c in row["components"]]
    assert custom_ids == ["libromind:confirm:q_1", "libromind:cancel:q_1"]
    message = dict(fake_discord.messages[final.path.rsplit("/", 1)[-1]])

    bot._connection.parse_interaction_create(
        button_payload("500000000000000011", BOB, thread_id, message, custom_ids[0])
    )
    await bot.drain()
    cb = (await fake_discord.wait_for("POST", "/interactions/500000000000000011/"))[0].body
    assert (
        cb["type"] == 4 and cb["data"]["flags"] == 64 and "Only the person who asked" in cb["data"]["content"]
    )
    assert service.turns == ["order Classical Mythology"]

    bot._connection.parse_interaction_create(
        button_payload("500000000000000012", ALICE, thread_id, message, custom_ids[0])
    )
    await bot.drain()
    cb = (await fake_discord.wait_for("POST", "/interactions/500000000000000012/"))[0].body
    assert cb["type"] == 7 and cb["data"]["components"] == [] and "Confirmed by" in cb["data"]["content"]
    assert service.turns[-1] == "yes"
    reply = fake_discord.of("PATCH", f"/channels/{thread_id}/messages/")[-1]
    assert "ord_123" in reply.body["content"]

    # a second click (or a replayed interaction) does nothing more
    bot._connection.parse_interaction_create(
        button_payload("500000000000000013", ALICE, thread_id, message, custom_ids[0])
    )
    bot._connection.parse_interaction_create(
        button_payload("500000000000000012", ALICE, thread_id, message, custom_ids[0])
    )
    await bot.drain()
    cb = (await fake_discord.wait_for("POST", "/interactions/500000000000000013/"))[0].body
    assert "already" in cb["data"]["content"]
    assert service.turns.count("yes") == 1
    assert len(fake_discord.of("POST", "/interactions/500000000000000012/")) == 1
