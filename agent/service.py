"""ChatService: the single entry for every channel.

``stream(principal, thread, message, channel=...)`` yields events::

    {"type": "step", "name": "retrieve"}            canonical step names, in the order taken
    {"type": "token", "text": "..."}                 answer text as it is produced
    {"type": "citations", "citations": [...]}        {"source","section","page","snippet","chunk_id"}
    {"type": "confirm", "quote": {...}}              an order waits for the user's explicit yes
    {"type": "error", "message": "..."}
    {"type": "final", "reply": {...}}                the DESIGN.md reply + answer_id, thread, quote, notices

``ask`` returns the final reply; ``feedback`` stores a 👍/👎 and drops a cached answer on 👎.
Conversations live in the PostgreSQL checkpointer under a thread id namespaced by principal and channel.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from langgraph.types import Command

from agent.caching import FRONT_KEY
from agent.context import AgentContext
from agent.graph import builder
from memory import feedback as answers_store
from memory.checkpoints import open_saver, thread_key
from memory.logs import correlated
from memory.principals import Principal
from tools.deps import Deps, use

__all__ = ["ChatService", "MAX_MESSAGE_CHARS"]

log = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4000


def _principal(p: Principal | str) -> Principal:
    return p if isinstance(p, Principal) else Principal.parse(p)


class ChatService:
    """Runs turns of the agent graph for (principal, thread, message)."""

    def __init__(
        self, deps: Deps, checkpointer: Any, *, policy: str | None = None, record: bool = True
    ) -> None:
        self.deps = deps
        self.checkpointer = checkpointer
        self.graph: Any = builder.compile(checkpointer=checkpointer)
        self.policy = policy
        self.record = record
        # "exit": one checkpoint write per turn (and at the confirmation interrupt) instead of one per step
        self.durability = "exit"
        self.cache = True  # look up / store plain docs answers in the semantic cache (if installed)

    @classmethod
    async def create(
        cls,
        deps: Deps,
        *,
        policy: str | None = None,
        memory: str = "postgres",
        cache: bool = True,
        record: bool = True,
    ) -> ChatService:
        """Wire the checkpointer (``postgres`` | ``memory``) and the semantic cache, install ``deps``."""
        use(deps)
        if memory == "postgres":
            saver: Any = await open_saver(deps.db)
        else:
            from langgraph.checkpoint.memory import InMemorySaver

            saver = InMemorySaver()
        if cache and FRONT_KEY not in deps.extras:
            try:
                from memory.cache import make_cache_front

                front = make_cache_front(deps.settings, deps.db, deps.embedder)
            except Exception as exc:  # noqa: BLE001 - answers work without a cache
                log.warning("semantic cache unavailable: %s", exc)
                front = None
            if front is not None:
                deps.extras[FRONT_KEY] = front
        service = cls(deps, saver, policy=policy, record=record)
        service.cache = cache
        return service

    def config(self, principal: Principal, thread: str, channel: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_key(principal.key, channel, thread)}}

    async def pending_quote(
        self, principal: Principal | str, thread: str, *, channel: str = "api"
    ) -> dict | None:
        """The quote waiting for this user's confirmation in this thread, if any."""
        snap = await self.graph.aget_state(self.config(_principal(principal), thread, channel))
        for task in snap.tasks or ():
            for intr in task.interrupts or ():
                value = getattr(intr, "value", None)
                if isinstance(value, dict) and value.get("type") == "confirm":
                    return value.get("quote")
        return None

    async def stream(
        self, principal: Principal | str, thread: str | None, message: str, *, channel: str = "api"
    ) -> AsyncIterator[dict[str, Any]]:
        t0 = time.perf_counter()
        p = _principal(principal)
        fresh = not thread  # a new thread has no state: nothing to read before the turn
        thread = thread or uuid.uuid4().hex
        message = (message or "").strip()
        config = self.config(p, thread, channel)
        ctx = AgentContext(principal=p, channel=channel, policy=self.policy, cache=self.cache)
        with correlated():
            if len(message) > MAX_MESSAGE_CHARS:
                yield {
                    "type": "error",
                    "message": f"Message too long ({MAX_MESSAGE_CHARS} characters at most).",
                }
                message = message[:MAX_MESSAGE_CHARS]
            pending = None if fresh else await self.pending_quote(p, thread, channel=channel)
            # Only the user's own next message resumes a pending confirmation.
            run_input: Any = Command(resume={"message": message}) if pending else {"message": message}
            emitted = 0
            values: dict[str, Any] = {}
            confirm: dict[str, Any] | None = None
            error: str | None = None
            try:
                async for mode, chunk in self.graph.astream(
                    run_input,
                    config,
                    context=ctx,
                    stream_mode=["updates", "custom", "values"],
                    durability=self.durability,
                ):
                    if mode == "custom":
                        if isinstance(chunk, dict) and chunk.get("type") == "token":
                            yield chunk
                    elif mode == "values":
                        values = chunk
                    elif mode == "updates":
                        for node, upd in chunk.items():
                            if node == "__interrupt__":
                                for intr in upd:
                                    v = getattr(intr, "value", None)
                                    if isinstance(v, dict) and v.get("type") == "confirm":
                                        confirm = v
                                continue
                            steps = (upd or {}).get("steps") if isinstance(upd, dict) else None
                            if steps is not None:
                                if len(steps) < emitted or node == "begin":
                                    emitted = 0
                                for name in steps[emitted:]:
                                    yield {"type": "step", "name": name}
                                emitted = len(steps)
            except Exception as exc:  # noqa: BLE001 - a turn fails as an event, never as a crash
                log.exception("turn failed")
                error = str(exc) or type(exc).__name__
                yield {"type": "error", "message": error}
            reply = self._reply(values, confirm, error, t0, thread)
            if reply["citations"]:
                yield {"type": "citations", "citations": reply["citations"]}
            if confirm is not None:
                yield {"type": "confirm", "quote": confirm.get("quote")}
            if self.record:
                await self._record(reply, p, channel, config, message, values)
            yield {"type": "final", "reply": reply}

    def _reply(
        self, values: dict[str, Any], confirm: dict | None, error: str | None, t0: float, thread: str
    ) -> dict[str, Any]:
        cache = values.get("cache") or {}
        answer = values.get("answer") or ""
        if error and not answer:
            answer = "Sorry, something went wrong while answering. Please try again."
        reply: dict[str, Any] = {
            "answer": answer,
            "citations": list(values.get("citations") or []),
            "steps": list(values.get("steps") or []),
            "cache_hit": bool(cache.get("hit")),
            "order": values.get("order"),
            "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
            "answer_id": None,
            "thread": thread,
            "quote": (confirm or {}).get("quote"),
            "notices": list(values.get("notices") or []),
            "policy": values.get("policy"),
        }
        if error:
            reply["error"] = error
        return reply

    async def _record(
        self,
        reply: dict[str, Any],
        p: Principal,
        channel: str,
        config: dict,
        message: str,
        values: dict[str, Any],
    ) -> None:
        answer_id = answers_store.new_answer_id()
        try:
            await answers_store.record_answer(
                self.deps.db,
                answer_id=answer_id,
                principal=p.key,
                channel=channel,
                thread_id=config["configurable"]["thread_id"],
                question=message,
                answer=reply["answer"],
                steps=reply["steps"],
                citations=reply["citations"],
                policy=values.get("policy") or "offline",
                model=values.get("model"),
                latency_ms=reply["latency_ms"],
                cache_hit=reply["cache_hit"],
                cache_entry_id=(values.get("cache") or {}).get("entry_id"),
                order_id=(reply.get("order") or {}).get("id"),
            )
            reply["answer_id"] = answer_id
        except Exception:  # noqa: BLE001 - losing a feedback anchor must not lose the answer
            log.warning("could not record answer", exc_info=True)

    async def ask(
        self, principal: Principal | str, thread: str | None, message: str, *, channel: str = "api"
    ) -> dict[str, Any]:
        """One turn; returns the DESIGN.md reply (+ answer_id, thread, quote, notices)."""
        reply: dict[str, Any] = {}
        async for event in self.stream(principal, thread, message, channel=channel):
            if event["type"] == "final":
                reply = event["reply"]
        return reply

    async def feedback(
        self,
        answer_id: str,
        principal: Principal | str,
        score: int,
        *,
        channel: str = "api",
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Store a 👍 (+1) / 👎 (-1) for an answer; a 👎 drops the answer's cache entry."""
        from tools.feedback import record_feedback

        return await record_feedback(
            answer_id, score, principal=_principal(principal), channel=channel, comment=comment
        )

    async def aclose(self) -> None:
        """Nothing to close: the saver shares the database pool owned by ``deps``."""
