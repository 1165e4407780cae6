"""Feedback tools: record a reaction (👍/👎) to an answer the agent gave."""

from __future__ import annotations

from typing import Any

from memory import feedback as store
from memory.principals import Principal
from tools.deps import current
from tools.errors import Forbidden, InvalidInput, NotFound

__all__ = ["record_feedback"]


async def record_feedback(
    answer_id: str, score: int, *, principal: Principal, channel: str = "api", comment: str | None = None
) -> dict[str, Any]:
    """Record a thumbs-up (+1) or thumbs-down (-1) for an answer you received.

    Only the principal the answer was given to may react to it. A thumbs-down on an answer that came
    from (or went into) the semantic cache removes that cache entry. Returns the stored reaction and
    whether a cache entry was invalidated.
    """
    if score not in (1, -1):
        raise InvalidInput("score must be 1 (thumbs up) or -1 (thumbs down).")
    if comment is not None and len(comment) > 2000:
        raise InvalidInput("comment is too long (2000 characters at most).")
    deps = current()
    answer = await store.get_answer(deps.db, answer_id)
    if answer is None:
        raise NotFound(f"No answer {answer_id!r}.")
    if answer["principal"] != principal.key:
        raise Forbidden("You can only react to answers given to you.")
    row = await store.upsert_feedback(
        deps.db, answer_id=answer_id, principal=principal.key, channel=channel, score=score, comment=comment
    )
    invalidated = 0
    if score == -1 and answer.get("cache_entry_id"):
        front = deps.extras.get("cache_front")
        if front is None:
            from memory.cache import make_cache

            front = make_cache(deps.settings, deps.db, deps.embedder)
        if front is not None:
            invalidated = await front.invalidate_entry(answer["cache_entry_id"])
    return {**row, "cache_invalidated": invalidated}
