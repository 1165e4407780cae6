"""The Slack adapter's translation layer with a fake ChatService, a recording Web API client and an
in-memory channel store (no network, no database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack import blocks as ui
from channels.slack.app import SlackBot
from channels.slack.settings import SlackSettings
from memory.channel_store import PostedMessage

QUOTE = {
    "quote_id": "q_1",
    "items": [
        {
            "isbn": "9780000000001",
            "title": "Dune",
            "quantity": 1,
            "unit_price_cents": 999,
            "line_total_cents": 999,
        }
    ],
    "total_cents": 999,
    "currency": "USD",
    "demo_price": False,
}


CTX = {"team_id": "T1"}  # bolt's context: the workspace the event came from


class RecordingClient(AsyncWebClient):
    def __init__(self) -> None:
        super().__init__(token="xoxb-test", base_url="http://invalid.invalid/")
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.n = 0

    async def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: Any = None,
        data: Any = None,
        params: Any = None,
        json: Any = None,
        headers: Any = None,
        auth: Any = None,
    ) -> Any:
        args = {**(params or {}), **(data or {}), **(json or {})}
        self.calls.append((api_method, args))
        if api_method == "chat.postMessage":
            self.n += 1
            return {"ok": True, "ts": f"100.{self.n}", "channel": args["channel"]}
        if api_method == "conversations.info":
            return {"ok": True, "channel": {"id": args["channel"], "is_private": False}}
        if api_method == "conversations.members":
            return {"ok": True, "members": [], "response_metadata": {}}
        if api_method == "users.info":  # everyone a full member of the workspace, but UGUEST
            user = {"id": args["user"], "team_id": "T1", "is_restricted": args["user"] == "UGUEST"}
            return {"ok": True, "user": user}
        return {"ok": True}

    def of(self, method: str) -> list[dict[str, Any]]:
        return [a for m, a in self.calls if m == method]


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], PostedMessage] = {}
        self.events: set[str] = set()

    async def claim_event(self, event_id: str) -> bool:
        first = event_id not in self.events
        self.events.add(event_id)
        return first

    async def remember(
        self,
        channel_id: str,
        message_id: str,
        *,
        principal: str,
        thread: str,
        answer_id: str | None,
        quote_id: str | None = None,
    ) -> None:
        self.rows[(channel_id, message_id)] = PostedMessage(
            "slack",
            channel_id,
            message_id,
            answer_id,
            principal,
            thread,
            quote_id,
            "pending" if quote_id else None,
        )

    async def lookup(self, channel_id: str, message_id: str) -> PostedMessage | None:
        return self.rows.get((channel_id, message_id))

    async def claim_quote(self, channel_id: str, message_id: str, state: str) -> bool:
        row = self.rows[(channel_id, message_id)]
        if row.quote_state != "pending":
            return False
        self.rows[(channel_id, message_id)] = PostedMessage(**{**row.__dict__, "quote_state": state})
        return True


class FakeService:
    """Speaks the ChatService event protocol."""

    def __init__(self, *, quote: dict | None = None) -> None:
        self.quote = quote
        self.turns: list[tuple[str, str, str, tuple[str, ...]]] = []
        self.feedbacks: list[tuple[str, str, int]] = []

    async def stream(self, principal: Any, thread: str, message: str, *, channel: str) -> AsyncIterator[dict]:
        self.turns.append((principal.key, thread, message, principal.scopes))
        yield {"type": "step", "name": "retrieve"}
        for word in ("Books ", "may ", "be ", "returned."):
            yield {"type": "token", "text": word}
        yield {"type": "step", "name": "answer"}
        cites = [
            {"source": "returns.md", "section": "Returns", "page": 1, "snippet": "Books may", "chunk_id": "c"}
        ]
        yield {"type": "citations", "citations": cites}
        quote = self.quote if message != "yes" else None
        if quote:
            yield {"type": "confirm", "quote": quote}
        order = {"id": "ord_1", "status": "placed"} if message == "yes" else None
        yield {
            "type": "final",
            "reply": {
                "answer": "Books may be returned.",
                "citations": cites,
                "steps": ["retrieve", "answer"],
                "answer_id": "ans_1",
                "order": order,
                "quote": quote,
                "cache_hit": False,
            },
        }

    async def pending_quote(self, principal: Any, thread: str, *, channel: str) -> dict | None:
        return self.quote

    async def feedback(
        self, answer_id: str, principal: Any, score: int, *, channel: str, comment: str | None = None
    ) -> dict:
        self.feedbacks.append((answer_id, principal.key, score))
        return {}


def make(service: FakeService, interval: float = 0.0) -> tuple[SlackBot, RecordingClient, FakeStore]:
    client = RecordingClient()
    settings = SlackSettings(
        signing_secret="s",
        bot_token="xoxb-test",
        update_interval=interval,  # type: ignore[call-arg]
        groups={"U1": ["staff"], "UGUEST": ["staff"]},
        _env_file=None,
    )
    bot = SlackBot(settings, service, db=None, client=client)
    store = FakeStore()
    bot.store = store  # type: ignore[assignment]
    return bot, client, store


def mention_body(text: str = "<@UBOT> What is the return policy?", channel: str = "C1") -> dict[str, Any]:
    return {
        "type": "event_callback",
        "event_id": "Ev1",
        "event": {"type": "app_mention", "user": "U1", "text": text, "ts": "50.1", "channel": channel},
    }


async def test_mention_posts_placeholder_in_thread_then_updates_progressively() -> None:
    service = FakeService()
    bot, client, store = make(service, interval=0.0)
    await bot.on_mention(body=mention_body(), client=client, context={"bot_user_id": "UBOT", **CTX})
    post = client.of("chat.postMessage")
    assert post == [{"channel": "C1", "thread_ts": "50.1", "text": "Thinking…"}]
    updates = client.of("chat.update")
    assert len(updates) >= 3  # progress frames, then the final reply
    assert updates[0]["text"].startswith("Thinking…")
    assert any(u["text"].endswith("▌") for u in updates[:-1])
    final = updates[-1]
    assert final["ts"] == "100.1" and final["text"].startswith("Books may be returned.")
    assert any(
        b["type"] == "context" and "returns.md · Returns · p. 1" in b["elements"][0]["text"]
        for b in final["blocks"]
    )
    assert service.turns[0][:3] == ("employee:U1", "C1:50.1", "What is the return policy?")
    assert store.rows[("C1", "100.1")].answer_id == "ans_1"


async def test_updates_are_throttled() -> None:
    bot, client, _ = make(FakeService(), interval=60.0)
    await bot.on_mention(body=mention_body(), client=client, context=CTX)
    assert len(client.of("chat.update")) == 1  # only the final reply


async def test_public_channel_caps_groups_dm_keeps_them() -> None:
    service = FakeService()
    bot, client, _ = make(service)
    await bot.on_mention(body=mention_body(), client=client, context=CTX)
    assert service.turns[-1][3] == ("internal", "public")  # a public channel: no group documents
    dm = {
        "event": {
            "type": "message",
            "channel_type": "im",
            "user": "U1",
            "text": "hi there",
            "ts": "60.1",
            "channel": "D1",
        }
    }
    await bot.on_message(body=dm, client=client, context=CTX)
    assert service.turns[-1][3] == ("group:staff", "internal", "public")
    # a guest's DM: public documents only, whatever LIBROMIND_SLACK_GROUPS says
    dm["event"] = {**dm["event"], "user": "UGUEST", "channel": "D2", "ts": "60.2"}
    await bot.on_message(body=dm, client=client, context=CTX)
    assert service.turns[-1][3] == ("public",)
    # so is a user of another workspace (Slack Connect), and one whose workspace is unknown
    await bot.on_message(body=dm, client=client, context={"team_id": "T2"})
    assert service.turns[-1][3] == ("public",)
    dm["event"] = {**dm["event"], "user": "U1"}
    await bot.on_message(body=dm, client=client, context={})
    assert service.turns[-1][3] == ("public",)


async def test_empty_mention_gets_help_and_bots_are_ignored() -> None:
    service = FakeService()
    bot, client, _ = make(service)
    await bot.on_mention(body=mention_body("<@UBOT>"), client=client, context=CTX)
    assert "Ask me" in client.of("chat.postMessage")[0]["text"] and not service.turns
    await bot.on_message(
        body={
            "event": {
                "type": "message",
                "channel_type": "im",
                "bot_id": "B1",
                "user": "UBOT",
                "text": "x",
                "ts": "1.1",
                "channel": "D1",
            }
        },
        client=client,
        context=CTX,
    )
    assert not service.turns


async def test_confirm_button_sends_yes_for_the_asker_only_once() -> None:
    service = FakeService(quote=QUOTE)
    bot, client, store = make(service)
    await bot.on_mention(body=mention_body("<@UBOT> order Dune"), client=client, context=CTX)
    final = client.of("chat.update")[-1]
    assert [b for b in final["blocks"] if b["type"] == "actions"]
    assert store.rows[("C1", "100.1")].quote_id == "q_1"
    acked: list[bool] = []

    async def ack() -> None:
        acked.append(True)

    def click(user: str) -> dict[str, Any]:
        return {
            "user": {"id": user},
            "channel": {"id": "C1"},
            "message": {"ts": "100.1", "thread_ts": "50.1", "text": final["text"], "blocks": final["blocks"]},
            "actions": [{"action_id": ui.CONFIRM_ACTION, "value": "q_1"}],
        }

    await bot.on_decision(ack=ack, body=click("U2"), client=client, context=CTX)
    assert "Only <@U1>" in client.of("chat.postEphemeral")[-1]["text"]
    await bot.on_decision(ack=ack, body=click("U1"), client=client, context=CTX)
    assert service.turns[-1][1:3] == ("C1:50.1", "yes")
    removed = [u for u in client.of("chat.update") if u["ts"] == "100.1"][-1]
    assert not [b for b in removed["blocks"] if b["type"] == "actions"]
    await bot.on_decision(ack=ack, body=click("U1"), client=client, context=CTX)
    assert "already" in client.of("chat.postEphemeral")[-1]["text"]
    assert [t[2] for t in service.turns].count("yes") == 1
    assert len(acked) == 3


@pytest.mark.parametrize(("reaction", "score"), [("+1", 1), ("thumbsup", 1), ("-1::skin-tone-3", -1)])
async def test_reactions_become_feedback(reaction: str, score: int) -> None:
    service = FakeService()
    bot, client, _ = make(service)
    await bot.on_mention(body=mention_body(), client=client, context=CTX)
    event = {
        "type": "reaction_added",
        "user": "U1",
        "reaction": reaction,
        "item": {"type": "message", "channel": "C1", "ts": "100.1"},
    }
    await bot.on_reaction(body={"event": event}, client=client)
    await bot.on_reaction(body={"event": {**event, "user": "U2"}}, client=client)
    await bot.on_reaction(body={"event": {**event, "reaction": "tada"}}, client=client)
    assert service.feedbacks == [("ans_1", "employee:U1", score)]


async def test_agent_error_event_is_told_in_words() -> None:
    class Failing(FakeService):
        async def stream(
            self, principal: Any, thread: str, message: str, *, channel: str
        ) -> AsyncIterator[dict]:
            yield {"type": "error", "message": "index unavailable"}
            yield {
                "type": "final",
                "reply": {
                    "answer": "Sorry, something went wrong while answering.",
                    "citations": [],
                    "answer_id": None,
                },
            }

    bot, client, _ = make(Failing())
    await bot.on_mention(body=mention_body(), client=client, context=CTX)
    text = client.of("chat.update")[-1]["text"]  # the error event's text is for the log only
    assert text.startswith("Sorry, something went wrong. Please try again.") and "index" not in text


async def test_socket_mode_handler_wraps_the_same_app() -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    bot, client, _ = make(FakeService())
    handler = AsyncSocketModeHandler(bot.app, "xapp-1-test")  # constructing does not connect
    assert handler.app is bot.app and handler.client.web_client is client
    await handler.client.close()
