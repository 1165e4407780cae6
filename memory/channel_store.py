"""Durable channel state (tables from migration 0060): handled event ids and posted-message anchors.

Platform-neutral SQL shared by the Slack and Discord adapters (imports no platform SDK and no other
project package); ``platform`` tells the adapters' rows apart:

- :meth:`ChannelStore.claim_event` inserts ``(platform, event_id)`` under a unique key; only the first
  delivery of an event gets ``True``, so a retried delivery is never answered twice, even across restarts
  or several processes.
- :meth:`ChannelStore.remember` ties a posted message to the answer it carries, its asker and thread;
  reactions look it up to become feedback and confirmation buttons to find their quote.
- :meth:`ChannelStore.claim_quote` flips a quote's buttons from ``pending`` once (a double click or two
  users racing cannot confirm twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["ChannelStore", "PostedMessage"]

log = logging.getLogger(__name__)
EVENT_RETENTION = "2 days"
_PRUNE_EVERY = 500


@dataclass(frozen=True)
class PostedMessage:
    platform: str
    channel_id: str
    message_id: str
    answer_id: str | None
    principal: str
    thread: str
    quote_id: str | None = None
    quote_state: str | None = None


class ChannelStore:
    """SQL for the channel tables on the application's :class:`memory.db.Database`."""

    def __init__(self, db: Any, platform: str) -> None:
        self.db = db
        self.platform = platform
        self._claims = 0

    async def claim_event(self, event_id: str) -> bool:
        """True for the first delivery of ``event_id`` on this platform, False for any repeat."""
        row = await self.db.fetchrow(
            "INSERT INTO channel_events (platform, event_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING RETURNING event_id",
            self.platform,
            str(event_id),
        )
        self._claims += 1
        if self._claims % _PRUNE_EVERY == 0:
            await self.prune()
        return row is not None

    async def prune(self) -> None:
        """Forget event ids older than the platforms' retry windows (Slack retries within minutes)."""
        await self.db.execute(
            f"DELETE FROM channel_events WHERE received_at < now() - interval '{EVENT_RETENTION}'"
        )

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
        await self.db.execute(
            "INSERT INTO channel_messages (platform, channel_id, message_id, answer_id, principal, thread,"
            " quote_id, quote_state) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (platform, channel_id, message_id) DO UPDATE SET answer_id = EXCLUDED.answer_id,"
            " principal = EXCLUDED.principal, thread = EXCLUDED.thread, quote_id = EXCLUDED.quote_id,"
            " quote_state = EXCLUDED.quote_state",
            self.platform,
            str(channel_id),
            str(message_id),
            answer_id,
            principal,
            thread,
            quote_id,
            "pending" if quote_id else None,
        )

    async def lookup(self, channel_id: str, message_id: str) -> PostedMessage | None:
        row = await self.db.fetchrow(
            "SELECT platform, channel_id, message_id, answer_id, principal, thread, quote_id, quote_state"
            " FROM channel_messages WHERE platform = %s AND channel_id = %s AND message_id = %s",
            self.platform,
            str(channel_id),
            str(message_id),
        )
        return PostedMessage(**row) if row else None

    async def claim_quote(self, channel_id: str, message_id: str, state: str) -> bool:
        """Mark a pending quote ``confirmed`` or ``cancelled``; False when it was not pending anymore."""
        row = await self.db.fetchrow(
            "UPDATE channel_messages SET quote_state = %s WHERE platform = %s AND channel_id = %s"
            " AND message_id = %s AND quote_state = 'pending' RETURNING message_id",
            state,
            self.platform,
            str(channel_id),
            str(message_id),
        )
        return row is not None

    async def release_quote(self, channel_id: str, message_id: str) -> None:
        """Put a claimed quote back to ``pending`` (the turn that should have used it failed)."""
        await self.db.execute(
            "UPDATE channel_messages SET quote_state = 'pending' WHERE platform = %s AND channel_id = %s"
            " AND message_id = %s",
            self.platform,
            str(channel_id),
            str(message_id),
        )
