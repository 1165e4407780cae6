"""Security of the Slack adapter through signed HTTP requests to the bolt app (issue 12):

- guests, external (Slack Connect) users and app users read public documents only, in a DM too, and
  the same rule holds for every member of a channel (item 7);
- a failure is told in words with a reference, never with the exception text (item 8);
- an empty signing secret is no secret: requests signed with an empty key are refused, and HTTP mode
  refuses to start without a secret (item 12).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.slack.server import EVENTS_PATH, SlackConfigError, http_app
from channels.web import metrics
from tests.integration.slack.conftest import (
    STAFF_CODE,
    SlackHarness,
    dm,
    event_body,
    make_bot,
    mention,
    serve,
    sign,
)
from tests.integration.slack.fake_slack import BOT_USER, FakeSlack
from tools.deps import Deps

QUESTION = "What is the staff discount code?"
PARTNER_CODE = "PARTNER-LILAC-15"
DSN_SECRET = "hunter2-Sup3rSecret"
DSN = f"connection to postgresql://libromind:{DSN_SECRET}@db.internal:5432/prod failed"


async def _answer(slack: SlackHarness, event: dict[str, Any]) -> str:
    channel = event["channel"]
    before = len([u for u in slack.fake.of("chat.update") if u.get("channel") == channel])
    resp = await slack.send_event(event)
    assert resp.status_code == 200, resp.text
    updates = await slack.fake.wait_for("chat.update", count=before + 1, channel=channel)
    final = updates[-1]
    assert final["text"] != "Thinking…", slack.fake.summary()
    return str(final["text"])


# ---------------------------------------------------------------------------------------- item 7
OUTSIDERS = {
    "UGUEST1": {"is_restricted": True},  # multi-channel guest
    "UGUEST2": {"is_restricted": True, "is_ultra_restricted": True},  # single-channel guest
    "UEXT1": {"team_id": "T0OTHER"},  # Slack Connect: a user of another organisation
    "UEXT2": {"is_stranger": True},
    "UAPP1": {"is_app_user": True},
}


async def test_guests_and_external_users_get_public_documents_in_a_dm(
    service: Any, deps: Deps, fake_slack: FakeSlack, corpus: Any
) -> None:
    fake_slack.users.update(OUTSIDERS)
    # even listed in LIBROMIND_SLACK_GROUPS, a guest or an external user is not a full member
    groups = {"U100": ["staff"], **{u: ["staff"] for u in OUTSIDERS}}
    async with serve(make_bot(service, deps, fake_slack, groups=groups), fake_slack) as slack:
        for n, user in enumerate(OUTSIDERS):
            text = await _answer(slack, dm(QUESTION, user=user, channel=f"D9{n}", ts=f"1699999999.00{n}100"))
            assert STAFF_CODE not in text, f"{user} ({OUTSIDERS[user]}) read an internal document: {text}"
        assert {c.args["user"] for c in fake_slack.calls if c.method == "users.info"} >= set(OUTSIDERS)
        # a full member of the workspace still reads internal documents in a DM
        text = await _answer(slack, dm(QUESTION, user="U100", channel="D100", ts="1699999999.009100"))
        assert STAFF_CODE in text, text


async def test_a_guest_or_external_member_makes_a_channel_public_only(
    slack: SlackHarness, corpus: Any
) -> None:
    fake = slack.fake
    fake.channels.update({"GOK": {"is_private": True}, "GGUEST": {"is_private": True}})
    fake.channels["GEXT"] = {"is_private": True}  # not flagged as shared, but a member is external
    fake.members.update(
        {
            "GOK": ["U100", "U200", BOT_USER],
            "GGUEST": ["U100", "U200", BOT_USER],  # U200 is configured with groups, but a guest
            "GEXT": ["U100", "UEXT9", BOT_USER],
            "CPUB": ["U100", BOT_USER],
        }
    )
    fake.users["UEXT9"] = {"team_id": "T0OTHER"}
    assert STAFF_CODE in await _answer(slack, mention(QUESTION, channel="GOK", ts="1699999999.000110"))
    fake.users["U200"] = {"is_restricted": True}  # U200 turns out to be a guest
    slack.bot.audience._users.clear()  # (past the users.info cache TTL)
    text = await _answer(slack, mention(QUESTION, channel="GGUEST", ts="1699999999.000120"))
    assert STAFF_CODE not in text, text
    text = await _answer(slack, mention(QUESTION, channel="GEXT", ts="1699999999.000130"))
    assert STAFF_CODE not in text, text
    # a guest asking in a public channel (members list not even listing them) reads public only
    fake.users["UGUEST7"] = {"is_ultra_restricted": True}
    text = await _answer(slack, mention(QUESTION, user="UGUEST7", channel="CPUB", ts="1699999999.000140"))
    assert STAFF_CODE not in text, text
    # while a full member there still reads internal documents
    assert STAFF_CODE in await _answer(slack, mention(QUESTION, channel="CPUB", ts="1699999999.000150"))


async def test_guest_groups_grant_only_those_groups(
    service: Any, deps: Deps, fake_slack: FakeSlack, corpus: Any, tmp_path: Path
) -> None:
    from tools.knowledge import ingest_paths

    doc = tmp_path / "partners.md"
    doc.write_text(
        "# Partner programme\n\n## Partner discount\n\n"
        f"Partner shops receive a partner discount of 15 percent, code {PARTNER_CODE}.\n"
    )
    assert (await ingest_paths([doc], "group:partners"))["failed"] == 0
    fake_slack.users["UGUEST1"] = {"is_restricted": True}
    bot = make_bot(service, deps, fake_slack, guest_groups={"UGUEST1": ["partners"]})
    async with serve(bot, fake_slack) as slack:
        text = await _answer(
            slack, dm("What is the partner discount code?", user="UGUEST1", channel="D1", ts="1.000100")
        )
        assert PARTNER_CODE in text, text
        text = await _answer(slack, dm(QUESTION, user="UGUEST1", channel="D1", ts="1.000200"))
        assert STAFF_CODE not in text, text


async def test_an_unreadable_user_profile_means_public_only(slack: SlackHarness, corpus: Any) -> None:
    slack.fake.failures["users.info"] = "ratelimited"
    text = await _answer(slack, dm(QUESTION, user="U100", channel="D100"))
    assert STAFF_CODE not in text, text


# ---------------------------------------------------------------------------------------- item 8
class _RaisingGraph:
    """The real compiled graph, except that running a turn fails with a secret-looking message."""

    def __init__(self, graph: Any) -> None:
        self._graph = graph

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)

    async def astream(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError(DSN)
        yield  # pragma: no cover


def _no_secret(text: str) -> None:
    assert DSN_SECRET not in text and "postgresql://" not in text and "RuntimeError" not in text, text
    assert text.startswith("Sorry, something went wrong. Please try again. (reference "), text


async def test_a_failing_turn_is_told_in_words_without_the_exception_text(
    slack: SlackHarness, service: Any
) -> None:
    # the real ChatService turns a failure into an error event carrying str(exc)
    service.graph = _RaisingGraph(service.graph)
    await slack.send_event(mention("What is the return policy?", ts="1699999999.000210"))
    final = (await slack.fake.wait_for("chat.update"))[-1]
    _no_secret(final["text"])
    assert DSN_SECRET not in json.dumps(final.get("blocks"))

    class Broken:  # a service that raises outright
        async def stream(self, *a: Any, **k: Any) -> Any:
            raise RuntimeError(DSN)
            yield  # pragma: no cover

    slack.bot.service = Broken()
    before = metrics.value(
        "libromind_chat_failures_total", channel="slack", endpoint="message", kind="RuntimeError"
    )
    await slack.send_event(mention("What is the return policy?", channel="C300", ts="1699999999.000220"))
    final = (await slack.fake.wait_for("chat.update", channel="C300"))[-1]
    _no_secret(final["text"])
    assert (
        metrics.value(
            "libromind_chat_failures_total", channel="slack", endpoint="message", kind="RuntimeError"
        )
        == before + 1
    )
    everything = json.dumps([c.args for c in slack.fake.calls])
    assert DSN_SECRET not in everything


async def test_failed_feedback_and_buttons_are_told_in_words(slack: SlackHarness, service: Any) -> None:
    await slack.send_event(mention("What is the return policy?", ts="1699999999.000230"))
    ts = (await slack.fake.wait_for("chat.postMessage"))[0]["_ts"]

    async def feedback(*a: Any, **k: Any) -> None:
        raise RuntimeError(DSN)

    service.feedback = feedback
    await slack.send_event(
        {
            "type": "reaction_added",
            "user": "U100",
            "reaction": "+1",
            "item_user": BOT_USER,
            "item": {"type": "message", "channel": "C100", "ts": ts},
            "event_ts": "1699999999.000240",
        }
    )
    told = (await slack.fake.wait_for("chat.postEphemeral"))[-1]
    assert told["text"].startswith("Sorry, your reaction was not recorded. Please try again."), told
    assert DSN_SECRET not in told["text"] and "postgresql://" not in told["text"]

    async def lookup(*a: Any, **k: Any) -> None:
        raise RuntimeError(DSN)

    slack.bot.store.lookup = lookup  # type: ignore[method-assign]
    message = {"ts": ts, "text": "quote", "blocks": []}
    resp = await slack.click(
        action_id="libromind_confirm", value="q-1", user="U100", channel="C100", message=message
    )
    assert resp.status_code == 200
    told = (await slack.fake.wait_for("chat.postEphemeral", count=2))[-1]
    _no_secret(told["text"])


# ---------------------------------------------------------------------------------------- item 12
@pytest.mark.parametrize("blank", ["", "   "])
async def test_an_empty_signing_secret_accepts_no_request(
    service: Any, deps: Deps, fake_slack: FakeSlack, blank: str
) -> None:
    bot = make_bot(service, deps, fake_slack, signing_secret=blank)
    # served as bolt's own Starlette handler, a request signed with the empty key is refused
    handler = AsyncSlackRequestHandler(bot.app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    app = Starlette(routes=[Route(EVENTS_PATH, events, methods=["POST"])])
    raw = json.dumps(event_body(mention("What is the return policy?")))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://slack.test"
    ) as http:
        for secret in ("", blank):
            headers = {"Content-Type": "application/json", **sign(raw, secret=secret)}
            resp = await http.post(EVENTS_PATH, content=raw, headers=headers)
            assert resp.status_code == 401, resp.text
    await bot.drain()
    assert fake_slack.of("chat.postMessage") == []
    assert await deps.db.fetch("SELECT * FROM channel_events") == []
    # and HTTP mode does not start at all without a secret
    with pytest.raises(SlackConfigError, match="LIBROMIND_SLACK_SIGNING_SECRET"):
        http_app(bot)
