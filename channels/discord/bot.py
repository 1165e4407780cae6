"""The Discord adapter: a ``discord.Client`` that translates gateway events to ChatService turns.

Translate only (DESIGN.md convention 2):

- **Questions**: a direct message, or a guild message that mentions the bot. In a guild channel a thread
  is created from the message and the answer is posted there (a message already in a thread is answered
  in that thread); in a DM the answer is an inline reply. The conversation is the Discord thread (or DM).
- **Progressive answer**: "Thinking…" is posted, edited as steps and tokens arrive (throttled), then
  replaced by the answer with its numbered sources (source · section · page).
- **Order confirmation**: a quote is shown with Confirm / Cancel buttons (``discord.ui.View``);
  clicking sends "yes" / "no" to ChatService in that thread — only for the asker, only once, and only
  while that exact quote is still pending. The interaction is acknowledged first (buttons removed).
- **Feedback**: 👍 / 👎 by the asker on an answer (``on_raw_reaction_add``) -> ``ChatService.feedback``.
- **Who**: ``customer:discord-<user id>`` (public documents; their own orders).
- **Exactly once**: message and interaction ids are claimed in ``channel_events`` (gateway replays).
- **Failures** are told to the user in words ("Sorry, something went wrong. Please try again.
  (reference <correlation id>)"; a ToolError's own sentence), never with exception text; the details are
  logged under that correlation id and counted (``libromind_chat_failures_total``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import discord

from channels.discord import render
from channels.discord.settings import DiscordSettings
from channels.turns import collect_turn, failure_reference, safe_reason
from channels.web import metrics
from memory.channel_store import ChannelStore
from memory.logs import correlated
from memory.principals import Principal
from tools.errors import ToolError

__all__ = ["DiscordBot", "CHANNEL", "CONFIRM_PREFIX", "principal_of_user", "confirm_view"]

log = logging.getLogger(__name__)
CHANNEL = "discord"
CONFIRM_PREFIX = "libromind:"
TURN_TIMEOUT_S = 180.0
_MENTION = re.compile(r"<@!?\d+>")
HELP = "Hi! Ask me about our documentation, books or your orders."


def principal_of_user(user_id: int | str) -> Principal:
    return Principal("customer", f"discord-{user_id}")


def confirm_view(quote_id: str) -> discord.ui.View:
    """Confirm / Cancel buttons. Clicks are handled by :meth:`DiscordBot.on_interaction` from the
    ``custom_id`` (``libromind:confirm:<quote id>``), so they keep working after a restart; the view is
    stopped so discord.py's in-memory view store does not also claim them."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="Confirm order",
            style=discord.ButtonStyle.success,
            custom_id=f"{CONFIRM_PREFIX}confirm:{quote_id}",
        )
    )
    view.add_item(
        discord.ui.Button(
            label="Cancel", style=discord.ButtonStyle.danger, custom_id=f"{CONFIRM_PREFIX}cancel:{quote_id}"
        )
    )
    view.stop()
    return view


class DiscordBot(discord.Client):
    def __init__(self, settings: DiscordSettings, service: Any, db: Any, **options: Any) -> None:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable "Message Content Intent" for the bot
        super().__init__(intents=intents, **options)
        self.settings = settings
        self.service = service
        self.store = ChannelStore(db, CHANNEL)
        self._inflight: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------------------------ plumbing
    def _track(self) -> asyncio.Task[Any] | None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return task

    async def drain(self, wait_s: float = 60.0) -> None:
        """Wait for every running handler (tests, graceful shutdown)."""
        deadline = time.monotonic() + wait_s
        await asyncio.sleep(0.05)
        while self._inflight and time.monotonic() < deadline:
            await asyncio.wait(set(self._inflight), timeout=max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(0.01)

    async def _fail(
        self,
        endpoint: str,
        exc: BaseException,
        target: Any | None = None,
        message: discord.Message | None = None,
        lead: str | None = None,
    ) -> None:
        kind = exc.code if isinstance(exc, ToolError) else type(exc).__name__
        metrics.record_request(CHANNEL, endpoint, "error")
        metrics.record_failure(CHANNEL, endpoint, kind)
        log.error("discord %s failed", endpoint, exc_info=exc)
        text = render.error_text(safe_reason(exc), reference=failure_reference())
        if lead:
            text = text.replace("Sorry, something went wrong", lead, 1)
        try:
            if message is not None:
                await message.edit(content=text, view=None)
            elif target is not None:
                await target.send(text)
        except Exception as again:  # noqa: BLE001 - Discord itself is failing: the log is all we have
            metrics.record_failure(CHANNEL, endpoint, "notify_" + type(again).__name__)
            log.error("discord: could not tell the user about the failure", exc_info=again)

    async def _first(self, kind: str, ident: int | str) -> bool:
        try:
            return await self.store.claim_event(f"{kind}:{ident}")
        except Exception as exc:  # noqa: BLE001 - never answer twice: without the table, do not answer
            metrics.record_failure(CHANNEL, kind, type(exc).__name__)
            log.error("discord: could not record %s %s", kind, ident, exc_info=exc)
            return False

    def _is_ours(self, user: Any) -> bool:
        return self.user is not None and getattr(user, "id", None) == self.user.id

    # ------------------------------------------------------------------------------------ messages
    async def on_message(self, message: discord.Message) -> None:
        self._track()
        with correlated():
            await self._on_message(message)

    async def _on_message(self, message: discord.Message) -> None:
        if message.author.bot or self._is_ours(message.author):
            return
        is_dm = isinstance(message.channel, discord.DMChannel)
        mentioned = any(self._is_ours(u) for u in message.mentions)
        in_own_thread = (
            isinstance(message.channel, discord.Thread)
            and self.user is not None
            and (message.channel.owner_id == self.user.id)
        )
        if not (is_dm or mentioned or in_own_thread):
            return
        if not await self._first("message", message.id):
            log.info("discord: message %s already handled", message.id)
            return
        text = _MENTION.sub("", message.content or "").strip()
        target: Any = message.channel
        reference: discord.Message | None = None
        try:
            if is_dm:
                reference, thread = message, f"dm:{message.channel.id}"
            elif isinstance(message.channel, discord.Thread):
                thread = f"thread:{message.channel.id}"
            else:
                name = (text or "Question")[:90]
                target = await message.create_thread(name=name, auto_archive_duration=1440)
                thread = f"thread:{target.id}"
        except Exception as exc:  # noqa: BLE001
            await self._fail("message", exc, target=message.channel)
            return
        if not text:
            await target.send(HELP, reference=reference) if reference else await target.send(HELP)
            return
        await self.run_turn(target, principal_of_user(message.author.id), thread, text, reference=reference)

    async def run_turn(
        self,
        target: Any,
        principal: Principal,
        thread: str,
        text: str,
        *,
        reference: discord.Message | None = None,
        endpoint: str = "message",
    ) -> dict[str, Any] | None:
        """Post "Thinking…", stream the turn into it, then the answer (+ buttons); remember it."""
        msg: discord.Message | None = None
        try:
            if reference is not None:
                msg = await target.send(render.THINKING, reference=reference, mention_author=False)
            else:
                msg = await target.send(render.THINKING)
            reply, quote, error = await self._stream(msg, principal, thread, text)
            if error:
                metrics.record_failure(CHANNEL, endpoint, "agent")
                log.warning("discord: the agent reported an error: %s", error)
                answer = str(reply.get("answer") or "")
                if not answer or answer.startswith("Sorry, something went wrong"):
                    # the error event carries exception text: it stays in the log, the user gets words
                    reply = {**reply, "answer": render.error_text(None, reference=failure_reference())}
            quote_id = (quote or {}).get("quote_id") if not reply.get("order") else None
            view = confirm_view(str(quote_id)) if quote_id else None
            content = render.reply_text(reply, quote=quote)
            msg = await msg.edit(content=content, view=view) if view else await msg.edit(content=content)
            await self.store.remember(
                str(msg.channel.id),
                str(msg.id),
                principal=principal.key,
                thread=thread,
                answer_id=reply.get("answer_id"),
                quote_id=quote_id,
            )
        except Exception as exc:  # noqa: BLE001
            await self._fail(endpoint, exc, target=target, message=msg)
            return None
        metrics.record_request(CHANNEL, endpoint, "error" if error else "ok")
        return reply

    async def _stream(
        self, msg: discord.Message, principal: Principal, thread: str, text: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
        async def show(progress: str) -> None:
            try:
                await msg.edit(content=progress)
            except discord.HTTPException as exc:  # a skipped frame is fine
                log.info("discord: progress edit skipped: %s", exc)

        return await collect_turn(
            self.service,
            principal,
            thread,
            text,
            channel=CHANNEL,
            timeout_s=TURN_TIMEOUT_S,
            interval_s=self.settings.update_interval,
            progress_text=render.progress_text,
            shown=render.THINKING,
            on_progress=show,
        )

    # ------------------------------------------------------------------------------------ reactions
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self._track()
        with correlated():
            await self._on_reaction(payload)

    async def _on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        if self.user is not None and payload.user_id == self.user.id:
            return
        score = render.score_of(payload.emoji.name or "")
        if score is None:
            return
        posted = await self.store.lookup(str(payload.channel_id), str(payload.message_id))
        if posted is None or not posted.answer_id:
            return
        principal = principal_of_user(payload.user_id)
        if posted.principal != principal.key:
            log.info(
                "discord: reaction by %s on an answer given to %s ignored", principal.key, posted.principal
            )
            return
        try:
            await self.service.feedback(posted.answer_id, principal, score, channel=CHANNEL)
        except Exception as exc:  # noqa: BLE001
            await self._fail(
                "feedback",
                exc,
                target=self.get_partial_messageable(payload.channel_id),
                lead="Sorry, your reaction was not recorded",
            )
            return
        metrics.record_request(CHANNEL, "feedback", "ok")
        metrics.record_feedback(CHANNEL, score)

    # ------------------------------------------------------------------------------------ buttons
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self._track()
        with correlated():
            await self._on_interaction(interaction)

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type != discord.InteractionType.component:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id") or "")
        if not custom_id.startswith(CONFIRM_PREFIX):
            return
        if not await self._first("interaction", interaction.id):
            return
        _, action, quote_id = custom_id.split(":", 2)
        decision = "confirmed" if action == "confirm" else "cancelled"
        message = interaction.message
        if message is None:
            return
        channel_id = str(interaction.channel_id or message.channel.id)
        principal = principal_of_user(interaction.user.id)
        try:
            posted = await self.store.lookup(channel_id, str(message.id))
            if posted is None or posted.quote_id != quote_id:
                await interaction.response.send_message(
                    "This order quote is not valid anymore. Ask me again to get a new one.", ephemeral=True
                )
                return
            if posted.principal != principal.key:
                await interaction.response.send_message(
                    "Only the person who asked can confirm or cancel this order.", ephemeral=True
                )
                return
            if not await self.store.claim_quote(channel_id, str(message.id), decision):
                await interaction.response.send_message(
                    "This order was already confirmed or cancelled.", ephemeral=True
                )
                return
            pending = await self.service.pending_quote(principal, posted.thread, channel=CHANNEL)
            if not pending or pending.get("quote_id") != quote_id:
                await interaction.response.send_message(
                    "This quote is no longer waiting for confirmation. Ask me again to get a new one.",
                    ephemeral=True,
                )
                return
            verb = "Confirmed" if decision == "confirmed" else "Cancelled"
            content = render.cut(
                (message.content or "") + f"\n-# {verb} by <@{interaction.user.id}>.", render.MAX_CONTENT
            )
            await interaction.response.edit_message(content=content, view=None)  # ack + remove buttons
        except Exception as exc:  # noqa: BLE001
            await self._fail("confirm", exc, target=self.get_partial_messageable(int(channel_id)))
            return
        target = interaction.channel or self.get_partial_messageable(int(channel_id))
        await self.run_turn(
            target, principal, posted.thread, "yes" if decision == "confirmed" else "no", endpoint="confirm"
        )
