"""The Slack adapter end to end: signed HTTP requests -> bolt -> real ChatService (embedded PostgreSQL)
-> Web API calls recorded by a local fake Slack."""

from __future__ import annotations

import json
import time
from typing import Any

from channels.web import metrics
from tests.integration.slack.conftest import STAFF_CODE, SlackHarness, event_body, mention, sign
from tests.integration.slack.fake_slack import BOT_USER


def _block_texts(blocks: list[dict[str, Any]]) -> str:
    out = []
    for b in blocks or []:
        if b.get("text"):
            out.append(b["text"]["text"])
        for el in b.get("elements") or []:
            if isinstance(el.get("text"), str):
                out.append(el["text"])
    return "\n".join(out)


async def _rows(db: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    return await db.fetch(sql, *args)


async def test_bad_and_stale_signatures_are_refused(slack: SlackHarness, deps: Any) -> None:
    body = json.dumps(event_body(mention("What is the return policy?")))
    bad = {"Content-Type": "application/json", **sign(body, secret="not-the-secret")}
    assert (await slack.http.post("/slack/events", content=body, headers=bad)).status_code == 401
    stale = {"Content-Type": "application/json", **sign(body, timestamp=int(time.time()) - 6 * 60)}
    assert (await slack.http.post("/slack/events", content=body, headers=stale)).status_code == 401
    missing = {"Content-Type": "application/json"}
    assert (await slack.http.post("/slack/events", content=body, headers=missing)).status_code == 401
    await slack.bot.drain()
    assert slack.fake.of("chat.postMessage") == []
    assert await _rows(deps.db, "SELECT * FROM channel_events") == []
    # a fresh, correctly signed request is accepted
    resp = await slack.post_json(json.loads(body))
    assert resp.status_code == 200
    await slack.bot.drain()
    await slack.fake.wait_for("chat.postMessage")


async def test_url_verification_challenge(slack: SlackHarness) -> None:
    resp = await slack.post_json({"type": "url_verification", "challenge": "abc123", "token": "legacy"})
    assert resp.status_code == 200 and resp.json()["challenge"] == "abc123"


async def test_mention_is_answered_in_its_thread_progressively(slack: SlackHarness, deps: Any) -> None:
    resp = await slack.send_event(mention("What is the return policy for books?", ts="1699999999.000100"))
    assert resp.status_code == 200
    posted = await slack.fake.wait_for("chat.postMessage")
    assert posted[0]["thread_ts"] == "1699999999.000100"  # replies in the thread of the mention
    assert posted[0]["text"] == "Thinking…"
    assert slack.fake.of("reactions.add")[0]["name"] == "eyes"
    updates = await slack.fake.wait_for("chat.update")
    final = updates[-1]
    assert final["blocks"], "the final reply is rendered with Block Kit"
    assert len(updates) >= 2 and updates[0]["text"].startswith("Thinking…")  # progress before the answer
    assert all(u["ts"] == posted[0]["_ts"] for u in updates)
    rows = await _rows(deps.db, "SELECT * FROM channel_messages WHERE platform = 'slack'")
    assert len(rows) == 1 and rows[0]["principal"] == "employee:U100" and rows[0]["answer_id"]
    assert rows[0]["message_id"] == final["ts"] == posted[0]["_ts"]
    answer = await deps.db.fetchrow("SELECT * FROM answers WHERE id = %s", rows[0]["answer_id"])
    assert answer["channel"] == "slack" and answer["principal"] == "employee:U100"
    assert (
        metrics.value("libromind_chat_requests_total", channel="slack", endpoint="message", outcome="ok") >= 1
    )


async def test_answer_and_citations_match_the_web_channel(
    slack: SlackHarness, corpus: Any, service: Any
) -> None:
    question = "Within how many days can purchases be returned?"
    await slack.send_event(mention(question, channel="C200", ts="1699999999.000200"))
    final = (await slack.fake.wait_for("chat.update"))[-1]
    web = await service.ask("employee:U100", "web-thread-1", question, channel="web")
    assert web["citations"], web
    text = _block_texts(final["blocks"])
    assert "returns.md" in text  # citation source
    sections = [c.get("section") for c in web["citations"] if c.get("section")]
    assert any(s in text for s in sections)  # citation section
    contexts = [b for b in final["blocks"] if b["type"] == "context"]
    assert any("returns.md" in el["text"] for b in contexts for el in b["elements"])
    # same answer text as the web channel (mrkdwn-escaped in Slack)
    first_line = web["answer"].strip().splitlines()[0]
    assert first_line.replace("**", "*")[:60] in text.replace("&amp;", "&")
    assert final["text"].startswith(web["answer"].strip()[:60])


async def test_shared_channel_answers_only_from_documents_everyone_may_read(
    slack: SlackHarness, corpus: Any
) -> None:
    slack.fake.channels["CEXT"] = {"is_shared": True, "is_ext_shared": True}
    await slack.send_event(
        mention("What is the staff discount code?", channel="CEXT", ts="1699999999.000300")
    )
    shared = (await slack.fake.wait_for("chat.update", channel="CEXT"))[-1]
    assert STAFF_CODE not in shared["text"]
    assert "conversations.info" in {c.method for c in slack.fake.calls}
    # the same employee in a direct message may read internal documents
    await slack.send_event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D100",
            "user": "U100",
            "text": "What is the staff discount code?",
            "ts": "1699999999.000400",
        }
    )
    dm = (await slack.fake.wait_for("chat.update", channel="D100"))[-1]
    assert STAFF_CODE in dm["text"], dm["text"]


async def test_retried_event_is_not_answered_twice(slack: SlackHarness, deps: Any) -> None:
    ev = mention("What is the shipping time?", ts="1699999999.000500")
    first = await slack.send_event(ev, event_id="EvRETRY1")
    again = await slack.send_event(ev, event_id="EvRETRY1", retry=1)
    assert first.status_code == 200 and again.status_code == 200
    assert len(slack.fake.of("chat.postMessage")) == 1
    rows = await _rows(deps.db, "SELECT * FROM channel_events WHERE event_id = 'EvRETRY1'")
    assert len(rows) == 1


async def test_reactions_are_stored_as_feedback(slack: SlackHarness, deps: Any) -> None:
    await slack.send_event(mention("What is the return policy?", ts="1699999999.000600"))
    ts = (await slack.fake.wait_for("chat.postMessage"))[0]["_ts"]
    row = await deps.db.fetchrow("SELECT answer_id FROM channel_messages WHERE message_id = %s", ts)
    answer_id = row["answer_id"]

    def reaction(user: str, name: str) -> dict[str, Any]:
        return {
            "type": "reaction_added",
            "user": user,
            "reaction": name,
            "item_user": BOT_USER,
            "item": {"type": "message", "channel": "C100", "ts": ts},
            "event_ts": str(time.time()),
        }

    await slack.send_event(reaction("U100", "+1"))
    fb = await deps.db.fetch("SELECT * FROM feedback WHERE answer_id = %s", answer_id)
    assert [(f["principal"], f["score"], f["channel"]) for f in fb] == [("employee:U100", 1, "slack")]
    await slack.send_event(reaction("U999", "-1"))  # someone else's reaction is not the asker's feedback
    await slack.send_event(reaction("U100", "-1::skin-tone-2"))
    fb = await deps.db.fetch("SELECT * FROM feedback WHERE answer_id = %s", answer_id)
    assert [(f["principal"], f["score"]) for f in fb] == [("employee:U100", -1)]
    await slack.send_event(reaction("U100", "tada"))  # other emoji are not feedback
    assert len(await deps.db.fetch("SELECT * FROM feedback")) == 1


async def test_bot_messages_and_channel_chatter_are_ignored(slack: SlackHarness) -> None:
    await slack.send_event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D100",
            "bot_id": "BBOT",
            "user": BOT_USER,
            "text": "my own answer",
            "ts": "1699999999.000700",
        }
    )
    await slack.send_event(
        {
            "type": "message",
            "channel_type": "channel",
            "channel": "C100",
            "user": "U100",
            "text": "just chatting",
            "ts": "1699999999.000800",
        }
    )
    assert slack.fake.of("chat.postMessage") == []


async def test_a_failure_is_told_to_the_user_and_counted(slack: SlackHarness) -> None:
    class Broken:
        async def stream(self, *a: Any, **k: Any) -> Any:
            raise RuntimeError("the index is on fire")
            yield  # pragma: no cover

    slack.bot.service = Broken()
    before = metrics.value(
        "libromind_chat_failures_total", channel="slack", endpoint="message", kind="RuntimeError"
    )
    await slack.send_event(mention("What is the return policy?", ts="1699999999.000900"))
    final = (await slack.fake.wait_for("chat.update"))[-1]
    # told in words with a reference to the logs, never with the exception text
    assert final["text"].startswith("Sorry, something went wrong. Please try again. (reference ")
    assert "on fire" not in final["text"] and "RuntimeError" not in final["text"]
    after = metrics.value(
        "libromind_chat_failures_total", channel="slack", endpoint="message", kind="RuntimeError"
    )
    assert after == before + 1
