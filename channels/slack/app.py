"""The Slack adapter: a bolt-python ``AsyncApp`` that translates Slack payloads to ChatService turns.

Translate only (DESIGN.md convention 2): an app mention or a direct message becomes
``ChatService.stream(principal, thread, text, channel="slack")``; the reply is rendered with Block Kit.

- **Ack first.** ``process_before_response=False``: bolt acknowledges an event before the listener runs
  (buttons call ``ack()`` first), so Slack always gets its answer within 3 s; the turn runs afterwards.
- **Progressive answer.** A "Thinking…" placeholder is posted in the thread (``thread_ts``) and edited
  with ``chat.update`` as steps and tokens arrive (at most every ``update_interval`` seconds), then
  replaced by the final blocks: answer, citations (section + context: source, section, page), the order
  quote with Confirm / Cancel buttons.
- **Exactly once.** Every ``event_callback`` id is claimed in ``channel_events`` (unique key) before any
  listener runs; a retried delivery (``X-Slack-Retry-Num``) is acknowledged and dropped.
- **Feedback.** 👍 / 👎 (``reaction_added`` +1 / -1) by the asker on an answer message is stored with
  ``ChatService.feedback`` for the answer that message carries (``channel_messages``).
- **Confirmation.** Confirm / Cancel sends "yes" / "no" to ChatService in that thread, only for the asker,
  only once (``quote_state``), and only while that exact quote is still pending.
- **Who reads.** The asker is ``employee:<user id>`` with groups from ``LIBROMIND_SLACK_GROUPS`` when a
  full member of the workspace; a guest, external (Slack Connect) user or bot reads public documents only
  (plus ``LIBROMIND_SLACK_GUEST_GROUPS``), in a DM too; either is capped to what every member of the
  conversation may read (:mod:`channels.slack.audience`).
- **Failures** are told to the user in words ("Sorry, something went wrong. Please try again.
  (reference <correlation id>)"; a ToolError's own sentence), never with exception text; the details are
  logged under that correlation id and counted (``libromind_chat_failures_total{channel="slack"}``).
- **Signatures.** Without a signing secret the bolt app verifies with a random key nobody knows (Socket
  Mode does not use signatures) and :func:`channels.slack.server.http_app` refuses to start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack import blocks as ui
from channels.slack.audience import PUBLIC, AudienceResolver, principal_for
from channels.slack.settings import SlackSettings
from channels.turns import collect_turn, failure_reference, safe_reason
from channels.web import metrics
from memory.channel_store import ChannelStore
from memory.logs import correlated
from memory.principals import Principal
from tools.errors import ToolError

__all__ = ["SlackBot", "CHANNEL", "FEEDBACK_REACTIONS"]

log = logging.getLogger(__name__)
CHANNEL = "slack"
TURN_TIMEOUT_S = 180.0
FEEDBACK_REACTIONS = {"+1": 1, "thumbsup": 1, "-1": -1, "thumbsdown": -1}
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
HELP = (
    "Hi! Ask me about our documentation, books or your orders — mention me in a channel or write to me here."
)


class SlackBot:
    """Builds the bolt ``AsyncApp`` (``bot.app``) around a ChatService and the channel tables."""

    def __init__(
        self, settings: SlackSettings, service: Any, db: Any, *, client: AsyncWebClient | None = None
    ) -> None:
        self.settings = settings
        self.service = service
        self.store = ChannelStore(db, CHANNEL)
        self.audience = AudienceResolver(
            settings.groups,
            guest_groups=settings.guest_groups,
            ttl=settings.audience_ttl,
            max_members=settings.max_members,
        )
        token = settings.bot_token.get_secret_value() if settings.bot_token else None
        self.client = client or AsyncWebClient(token=token, base_url=settings.base_url)
        configured = settings.signing_secret.get_secret_value() if settings.signing_secret else ""
        self.signed = bool(configured.strip())
        # never an empty HMAC key: without a secret no HTTP request can be verified (Socket Mode only)
        secret = configured if self.signed else secrets.token_hex(32)
        self.app = AsyncApp(
            name="libromind",
            client=self.client,
            signing_secret=secret,
            process_before_response=False,
        )
        self._inflight: set[asyncio.Task[Any]] = set()
        self._register()

    # ------------------------------------------------------------------------------------ wiring
    def _register(self) -> None:
        app = self.app
        app.middleware(self._dedupe)
        app.event("app_mention")(self._tracked(self.on_mention))
        app.event("message")(self._tracked(self.on_message))
        app.event("reaction_added")(self._tracked(self.on_reaction))
        app.event("reaction_removed")(self._noop)
        app.action(ui.CONFIRM_ACTION)(self._tracked(self.on_decision))
        app.action(ui.CANCEL_ACTION)(self._tracked(self.on_decision))
        app.error(self._on_error)

    def _tracked(self, fn: Any) -> Any:
        """Wrap a listener so :meth:`drain` can wait for it (tests, graceful shutdown)."""

        async def listener(ack: Any, body: dict, client: AsyncWebClient, context: Any) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._inflight.add(task)
            try:
                with correlated():  # logs of this listener and the reference shown on a failure
                    await fn(ack=ack, body=body, client=client, context=context)
            finally:
                if task is not None:
                    self._inflight.discard(task)

        listener.__name__ = fn.__name__
        return listener

    async def drain(self, wait_s: float = 60.0) -> None:
        """Wait until every running listener finished (bolt runs them after the ack)."""
        deadline = time.monotonic() + wait_s
        await asyncio.sleep(0)
        while self._inflight and time.monotonic() < deadline:
            await asyncio.wait(set(self._inflight), timeout=max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(0)

    async def _noop(self) -> None:
        return None

    async def _on_error(self, error: Exception, body: dict) -> None:
        metrics.record_failure(CHANNEL, "bolt", type(error).__name__)
        log.error("slack: unhandled error for %s", (body or {}).get("type"), exc_info=error)

    async def _dedupe(self, req: Any, body: dict, next: Any) -> Any:  # noqa: A002 - bolt's name
        """Claim each event id once (durable); a retried delivery is acked and not answered again."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if body.get("type") == "event_callback" and event_id:
            retry = (req.headers.get("x-slack-retry-num") or [None])[0]
            try:
                first = await self.store.claim_event(str(event_id))
            except Exception as exc:  # noqa: BLE001 - without the table we cannot promise exactly-once
                metrics.record_failure(CHANNEL, "events", type(exc).__name__)
                log.error("slack: could not record event %s", event_id, exc_info=exc)
                return BoltResponse(status=500, body="")
            if not first:
                metrics.record_request(CHANNEL, "events", "duplicate")
                log.info("slack: event %s already handled (retry %s); not answering again", event_id, retry)
                return BoltResponse(status=200, body="")
        return await next()

    # ------------------------------------------------------------------------------------ principals
    async def principal(
        self,
        client: AsyncWebClient,
        user_id: str,
        channel_id: str,
        *,
        channel_type: str | None = None,
        context: Any = None,
    ) -> Principal:
        ctx = context if context is not None else {}
        bot_user, team = ctx.get("bot_user_id"), ctx.get("team_id")
        enterprise = ctx.get("enterprise_id")
        try:
            reader = await self.audience.reader(client, user_id, team_id=team, enterprise_id=enterprise)
            audience = await self.audience.resolve(
                client,
                channel_id,
                channel_type=channel_type,
                bot_user_id=bot_user,
                team_id=team,
                enterprise_id=enterprise,
            )
        except Exception as exc:  # noqa: BLE001 - unknown audience: answer from public documents only
            metrics.record_failure(CHANNEL, "audience", type(exc).__name__)
            log.warning(
                "slack: cannot tell who reads %s (%s); answering from public documents", channel_id, exc
            )
            return principal_for(user_id, (), PUBLIC, internal=False)
        if not reader.full_member:
            log.info("slack: %s is a %s: public documents only", user_id, reader.kind)
        return principal_for(user_id, tuple(reader.groups), audience, internal=reader.internal)

    @staticmethod
    def thread_id(channel_id: str, thread_ts: str) -> str:
        return f"{channel_id}:{thread_ts}"

    # ------------------------------------------------------------------------------------ listeners
    async def on_mention(self, *, body: dict, client: AsyncWebClient, context: Any, **_: Any) -> None:
        await self._question(body.get("event") or {}, client, context)

    async def on_message(self, *, body: dict, client: AsyncWebClient, context: Any, **_: Any) -> None:
        event = body.get("event") or {}
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return  # channel messages arrive as app_mention; edits, joins and bots are not questions
        await self._question(event, client, context)

    async def _question(self, event: dict, client: AsyncWebClient, context: Any) -> None:
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not user or not channel or not ts or event.get("bot_id"):
            return
        thread_ts = event.get("thread_ts") or ts
        text = _MENTION.sub("", event.get("text") or "").strip()
        try:
            await client.reactions_add(channel=channel, timestamp=ts, name="eyes")
        except Exception as exc:  # noqa: BLE001 - a missing "seen" mark is not worth failing the turn
            log.info("slack: could not mark %s as seen: %s", ts, exc)
        if not text:
            await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=HELP)
            return
        principal = await self.principal(
            client, user, channel, channel_type=event.get("channel_type"), context=context
        )
        await self.run_turn(
            client,
            channel=channel,
            thread_ts=thread_ts,
            principal=principal,
            thread=self.thread_id(channel, thread_ts),
            message=text,
            endpoint="message",
        )

    async def on_reaction(self, *, body: dict, client: AsyncWebClient, **_: Any) -> None:
        event = body.get("event") or {}
        item = event.get("item") or {}
        score = FEEDBACK_REACTIONS.get(str(event.get("reaction") or "").split("::")[0])
        if item.get("type") != "message" or score is None or not event.get("user"):
            return
        posted = await self.store.lookup(item.get("channel", ""), item.get("ts", ""))
        if posted is None or not posted.answer_id:
            return  # not one of our answers
        user = event["user"]
        if posted.principal != f"employee:{user}":
            log.info("slack: reaction by %s on an answer given to %s ignored", user, posted.principal)
            return
        try:
            await self.service.feedback(posted.answer_id, Principal("employee", user), score, channel=CHANNEL)
        except Exception as exc:  # noqa: BLE001 - told to the user, logged, counted
            await self._fail(
                client,
                "feedback",
                exc,
                channel=item["channel"],
                user=user,
                thread_ts=None,
                lead="Sorry, your reaction was not recorded",
            )
            return
        metrics.record_request(CHANNEL, "feedback", "ok")
        metrics.record_feedback(CHANNEL, score)
        log.info("slack: feedback %+d on %s", score, posted.answer_id)

    async def on_decision(
        self, *, ack: Any, body: dict, client: AsyncWebClient, context: Any, **_: Any
    ) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        decision = "confirmed" if action.get("action_id") == ui.CONFIRM_ACTION else "cancelled"
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id", "")
        message = body.get("message") or {}
        ts = message.get("ts", "")
        thread_ts = message.get("thread_ts") or ts

        async def tell(text: str) -> None:
            await client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)

        try:
            posted = await self.store.lookup(channel, ts)
            if posted is None or not posted.quote_id or posted.quote_id != action.get("value"):
                await tell("This order quote is not valid anymore. Ask me again to get a new one.")
                return
            if posted.principal != f"employee:{user}":
                owner = posted.principal.split(":", 1)[1]
                await tell(f"Only <@{owner}> can confirm or cancel this order.")
                return
            if not await self.store.claim_quote(channel, ts, decision):
                await tell("This order was already confirmed or cancelled.")
                return
            principal = await self.principal(client, user, channel, context=context)
            pending = await self.service.pending_quote(principal, posted.thread, channel=CHANNEL)
            if not pending or pending.get("quote_id") != posted.quote_id:
                await tell("This quote is no longer waiting for confirmation. Ask me again to get a new one.")
                return
            await client.chat_update(
                channel=channel,
                ts=ts,
                text=message.get("text") or "Order quote",
                blocks=ui.decided_blocks(message.get("blocks") or [], decision, user),
            )
        except Exception as exc:  # noqa: BLE001
            await self._fail(client, "confirm", exc, channel=channel, user=user, thread_ts=thread_ts)
            return
        await self.run_turn(
            client,
            channel=channel,
            thread_ts=thread_ts,
            principal=principal,
            thread=posted.thread,
            message="yes" if decision == "confirmed" else "no",
            endpoint="confirm",
        )

    # ------------------------------------------------------------------------------------ a turn
    async def run_turn(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        principal: Principal,
        thread: str,
        message: str,
        endpoint: str = "message",
    ) -> dict[str, Any] | None:
        """Post "Thinking…", stream the turn into it, then the final blocks; remember the answer."""
        ts: str | None = None
        try:
            posted = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=ui.THINKING)
            ts = str(posted["ts"])
            reply, quote, error = await self._stream(client, channel, ts, principal, thread, message)
        except Exception as exc:  # noqa: BLE001
            await self._fail(client, endpoint, exc, channel=channel, thread_ts=thread_ts, ts=ts)
            return None
        if error:
            metrics.record_failure(CHANNEL, endpoint, "agent")
            log.warning("slack: the agent reported an error: %s", error)
            answer = str(reply.get("answer") or "")
            if not answer or answer.startswith("Sorry, something went wrong"):
                # the error event carries exception text: it stays in the log, the user gets words
                reply = {**reply, "answer": ui.error_text(None, reference=failure_reference())}
        try:
            await client.chat_update(
                channel=channel,
                ts=ts,
                text=ui.fallback_text(reply),
                blocks=ui.reply_blocks(reply, quote=quote),
            )
            quote_id = (quote or {}).get("quote_id") if not reply.get("order") else None
            await self.store.remember(
                channel,
                ts,
                principal=principal.key,
                thread=thread,
                answer_id=reply.get("answer_id"),
                quote_id=quote_id,
            )
        except Exception as exc:  # noqa: BLE001
            await self._fail(client, endpoint, exc, channel=channel, thread_ts=thread_ts, ts=ts)
            return None
        metrics.record_request(CHANNEL, endpoint, "error" if error else "ok")
        return reply

    async def _stream(
        self, client: AsyncWebClient, channel: str, ts: str, principal: Principal, thread: str, message: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
        return await collect_turn(
            self.service,
            principal,
            thread,
            message,
            channel=CHANNEL,
            timeout_s=TURN_TIMEOUT_S,
            interval_s=self.settings.update_interval,
            progress_text=ui.progress_text,
            shown=ui.THINKING,
            on_progress=lambda progress: self._progress(client, channel, ts, progress),
        )

    async def _progress(self, client: AsyncWebClient, channel: str, ts: str, text: str) -> None:
        try:
            await client.chat_update(channel=channel, ts=ts, text=text)
        except Exception as exc:  # noqa: BLE001 - a skipped progress frame is fine; the final update is not
            log.info("slack: progress update skipped: %s", exc)

    async def _fail(
        self,
        client: AsyncWebClient,
        endpoint: str,
        exc: BaseException,
        *,
        channel: str,
        thread_ts: str | None,
        ts: str | None = None,
        user: str | None = None,
        lead: str | None = None,
    ) -> None:
        """Log, count and tell the user in words (edit the placeholder, else post in the thread)."""
        kind = exc.code if isinstance(exc, ToolError) else type(exc).__name__
        metrics.record_request(CHANNEL, endpoint, "error")
        metrics.record_failure(CHANNEL, endpoint, kind)
        log.error("slack %s failed", endpoint, exc_info=exc)
        text = ui.error_text(safe_reason(exc), reference=failure_reference())
        if lead:
            text = text.replace("Sorry, something went wrong", lead, 1)
        try:
            if ts:
                await client.chat_update(channel=channel, ts=ts, text=text, blocks=[])
            elif user:
                await client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
            else:
                await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        except Exception as again:  # noqa: BLE001 - Slack itself is failing: the log is all we have
            metrics.record_failure(CHANNEL, endpoint, "notify_" + type(again).__name__)
            log.error("slack: could not tell the user about the failure", exc_info=again)
