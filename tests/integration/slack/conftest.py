"""Slack integration fixtures: the real ChatService on the embedded PostgreSQL, a fake Slack Web API on a
free port, and the adapter served through bolt's Starlette handler (httpx ASGI transport)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from channels.slack.app import SlackBot
from channels.slack.server import EVENTS_PATH, http_app
from channels.slack.settings import SlackSettings
from tests.integration.slack.fake_slack import BOT_USER, TEAM, FakeSlack
from tools.deps import Deps

SECRET = "test-signing-secret"
DOCS = Path(__file__).parent / "docs"
STAFF_CODE = "STAFF-ORCHID-40"


def sign(body: str, *, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:{body}".encode()
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def event_body(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        "event": event,
    }


def mention(
    text: str,
    *,
    user: str = "U100",
    channel: str = "C100",
    ts: str = "1699999999.000100",
    thread_ts: str | None = None,
) -> dict[str, Any]:
    ev = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        ev["thread_ts"] = thread_ts
    return ev


class SlackHarness:
    def __init__(self, bot: SlackBot, fake: FakeSlack, http: httpx.AsyncClient) -> None:
        self.bot, self.fake, self.http = bot, fake, http

    async def post_json(
        self, body: dict[str, Any], *, retry: int | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        raw = json.dumps(body)
        h = {"Content-Type": "application/json", **(headers if headers is not None else sign(raw))}
        if retry is not None:
            h.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        return await self.http.post(EVENTS_PATH, content=raw, headers=h)

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> httpx.Response:
        resp = await self.post_json(event_body(event, event_id=event_id), retry=retry)
        await self.bot.drain()
        return resp

    async def click(
        self, *, action_id: str, value: str, user: str, channel: str, message: dict[str, Any]
    ) -> httpx.Response:
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": "1.2.3",
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel},
            "channel": {"id": channel},
            "message": message,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "quote_actions",
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        }
        raw = urlencode({"payload": json.dumps(payload)})
        h = {"Content-Type": "application/x-www-form-urlencoded", **sign(raw)}
        resp = await self.http.post(EVENTS_PATH, content=raw, headers=h)
        await self.bot.drain()
        return resp


@pytest.fixture
async def corpus(deps: Deps) -> Deps:
    from tools.knowledge import ingest_paths

    pub = await ingest_paths([DOCS / "returns.md"], "public")
    internal = await ingest_paths([DOCS / "internal_discounts.md"], "internal")
    for res in (pub, internal):
        assert res["failed"] == 0, f"test corpus could not be ingested: {res['documents']}"
    return deps


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def service(deps: Deps) -> Any:
    from agent.service import ChatService

    return await ChatService.create(deps)


def make_bot(service: Any, deps: Deps, fake: FakeSlack, **overrides: Any) -> SlackBot:
    values: dict[str, Any] = {
        "signing_secret": SECRET,
        "bot_token": "xoxb-test",
        "base_url": fake.base_url,
        "update_interval": 0.0,
        "groups": {"U100": ["staff"], "U200": ["staff"]},
        **overrides,
    }
    settings = SlackSettings(_env_file=None, **values)  # type: ignore[call-arg]
    return SlackBot(settings, service, deps.db)


@asynccontextmanager
async def serve(bot: SlackBot, fake: FakeSlack) -> AsyncIterator[SlackHarness]:
    """The bot's HTTP app (:func:`http_app`) behind an httpx client, as the ``slack`` fixture."""
    transport = httpx.ASGITransport(app=http_app(bot))
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as http:
        yield SlackHarness(bot, fake, http)
        await bot.drain()


def dm(text: str, *, user: str, channel: str, ts: str = "1699999999.000100") -> dict[str, Any]:
    return {"type": "message", "channel_type": "im", "channel": channel, "user": user, "text": text, "ts": ts}


@pytest.fixture
async def slack(service: Any, deps: Deps, fake_slack: FakeSlack) -> AsyncIterator[SlackHarness]:
    async with serve(make_bot(service, deps, fake_slack), fake_slack) as harness:
        yield harness
