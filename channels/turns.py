"""One chat turn as a chat platform shows it: fold ChatService's event stream into the final reply while
throttled progress frames (steps, then the answer so far) are pushed to the platform message.

Shared by the Slack and Discord adapters; each passes its own renderer and message-editing callback.

Failures: what a chat user may be told is :func:`safe_reason` (a ToolError's own sentence, a timeout in
words, otherwise nothing) plus :func:`failure_reference`, the correlation id the details are logged under.
Exception text (which may carry DSNs, paths, tokens or SQL) never reaches a posted message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from memory.logs import correlation_id
from memory.principals import Principal
from tools.errors import ToolError

__all__ = ["collect_turn", "safe_reason", "failure_reference", "TurnFailed"]


class TurnFailed(RuntimeError):
    """The turn ended without a final reply (the agent's own error text is logged, not carried)."""


def safe_reason(exc: BaseException) -> str | None:
    """A sentence about ``exc`` that a user may read, or ``None`` (then a generic worded message)."""
    if isinstance(exc, ToolError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "that took too long, please try again"
    return None


def failure_reference() -> str | None:
    """The current correlation id (logged with the failure's details), if any."""
    cid = correlation_id.get()
    return None if not cid or cid == "-" else cid


async def collect_turn(
    service: Any,
    principal: Principal,
    thread: str,
    message: str,
    *,
    channel: str,
    timeout_s: float,
    interval_s: float,
    progress_text: Callable[[list[str], str], str],
    shown: str,
    on_progress: Callable[[str], Awaitable[None]],
) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """(final reply, confirmation quote or None, error message or None) of one turn.

    ``on_progress`` receives a new progress text at most every ``interval_s`` (and only when it
    changed from ``shown``); it must swallow its own failures, a skipped frame is fine. Raises
    TimeoutError after ``timeout_s`` and :class:`TurnFailed` when the stream ends without a final reply.
    The error message returned is for the log only: it may hold exception text."""
    steps: list[str] = []
    text = ""
    last = time.monotonic()
    reply: dict[str, Any] | None = None
    quote: dict[str, Any] | None = None
    error: str | None = None
    async with asyncio.timeout(timeout_s):
        async for event in service.stream(principal, thread, message, channel=channel):
            kind = event.get("type")
            if kind == "step":
                steps.append(str(event.get("name")))
            elif kind == "token":
                text += str(event.get("text") or "")
            elif kind == "confirm":
                quote = event.get("quote")
            elif kind == "error":
                error = str(event.get("message") or "the agent failed")
            elif kind == "final":
                reply = dict(event.get("reply") or {})
            now = time.monotonic()
            if kind in ("step", "token") and now - last >= interval_s:
                progress = progress_text(steps, text)
                if progress != shown:
                    await on_progress(progress)
                    shown, last = progress, now
    if reply is None:
        raise TurnFailed(error or "the agent returned no reply")
    return reply, quote or reply.get("quote"), error
