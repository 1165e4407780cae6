"""Order confirmation through Discord buttons with the real ChatService and a demo catalog subset."""

from __future__ import annotations

from typing import Any

from channels.discord.bot import DiscordBot
from tests.integration.discord.conftest import ALICE, BOB, button_payload, message_payload
from tests.integration.discord.fake_discord import FakeDiscord
from tests.integration.slack.test_slack_orders import ISBN, catalog  # noqa: F401 - fixture

from tests.integration.discord.conftest import CHANNEL  # noqa: E402  isort: skip


async def test_confirm_button_places_the_order(
    bot: DiscordBot,
    fake_discord: FakeDiscord,
    catalog: Any,  # noqa: F811
    deps: Any,
) -> None:
    mid = "600000000000000010"
    bot._connection.parse_message_create(
        message_payload(mid, CHANNEL, ALICE, f"<@{bot.user.id}> I want to order 1 copy of ISBN {ISBN}")
    )
    await bot.drain()
    thread_id = [k for k in fake_discord.guild_of if k != CHANNEL][-1]
    final = (await fake_discord.wait_for("PATCH", f"/channels/{thread_id}/messages/"))[-1]
    components = final.body.get("components") or []
    assert components, f"expected Confirm/Cancel buttons, got {final.body}"
    confirm_id = components[0]["components"][0]["custom_id"]
    assert confirm_id.startswith("libromind:confirm:")
    answer_id = final.path.rsplit("/", 1)[-1]
    message = dict(fake_discord.messages[answer_id])
    assert await deps.db.fetch("SELECT * FROM orders") == []
    bot._connection.parse_interaction_create(
        button_payload("500000000000000001", BOB, thread_id, message, confirm_id)
    )
    await bot.drain()
    callbacks = await fake_discord.wait_for("POST", "/interactions/500000000000000001/")
    assert callbacks[0].body["data"]["flags"] == 64  # ephemeral "only the asker" answer
    assert await deps.db.fetch("SELECT * FROM orders") == []
    bot._connection.parse_interaction_create(
        button_payload("500000000000000002", ALICE, thread_id, message, confirm_id)
    )
    await bot.drain()
    callbacks = await fake_discord.wait_for("POST", "/interactions/500000000000000002/")
    assert callbacks[0].body["type"] == 7 and callbacks[0].body["data"]["components"] == []  # buttons removed
    orders = await deps.db.fetch("SELECT * FROM orders")
    assert len(orders) == 1 and orders[0]["principal"] == f"customer:discord-{ALICE['id']}"
    reply = fake_discord.of("PATCH", f"/channels/{thread_id}/messages/")[-1]
    assert "placed" in reply.body["content"]
