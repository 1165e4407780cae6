"""Semantic-cache glue for the graph: look up standalone docs questions, store grounded docs answers.

Only plain documentation questions are looked up or stored (never follow-ups, catalog, cart or order
turns, refusals, clarifications or answers without citations). The partition is the principal's ACL
scopes + corpus and catalog versions, so nobody ever receives an answer built from text they may not read.
The cache front (``memory.cache.make_cache_front``) is installed by ChatService in ``deps.extras``.

Versions are read once, at lookup, and kept in the turn's ``cache`` meta: the answer is stored under
*those* versions and only if they still hold when it is stored. An answer retrieved before an ACL or
corpus change (say a chunk turned from public to internal while the turn ran) is therefore never filed
under the new version's partition, where later lookups would find it (the change's own invalidation
ran before such an entry existed).
"""

from __future__ import annotations

import logging
from typing import Any

from agent.context import resources
from memory.principals import Principal

__all__ = ["lookup", "store", "versions", "FRONT_KEY"]

log = logging.getLogger(__name__)
FRONT_KEY = "cache_front"


async def versions(db: Any) -> dict[str, Any]:
    rows = await db.fetch(
        "SELECT key, value #>> '{}' AS v FROM meta WHERE key IN ('corpus_version', 'catalog_version')"
    )
    got = {r["key"]: r["v"] for r in rows}
    return {"corpus": got.get("corpus_version", "0"), "catalog": got.get("catalog_version", "0")}


async def lookup(question: str, principal: Principal) -> dict[str, Any] | None:
    """``{"meta": {...}, "reply": {...}}``; None when no cache is installed."""
    deps = await resources()
    front = deps.extras.get(FRONT_KEY)
    if front is None:
        return None
    try:
        v = await versions(deps.db)
        entry = await front.lookup(question, principal.scopes, v)
    except Exception:  # noqa: BLE001 - the cache never breaks a turn
        log.warning("cache lookup failed", exc_info=True)
        return None
    if entry is None:
        return {
            "meta": {"cacheable": True, "hit": False, "entry_id": None, "versions": v},
            "reply": {},
        }
    return {
        "meta": {
            "cacheable": True,
            "hit": True,
            "entry_id": entry.entry_id,
            "similarity": round(float(entry.similarity), 4),
            "versions": v,
        },
        "reply": entry.reply,
    }


async def store(question: str, principal: Principal, state: dict[str, Any]) -> str | None:
    """Cache a grounded docs answer under the versions its lookup read (``state["cache"]["versions"]``);
    nothing is stored without them or when the corpus or catalog moved since."""
    deps = await resources()
    front = deps.extras.get(FRONT_KEY)
    if front is None or not state.get("citations"):
        return None
    looked_up = (state.get("cache") or {}).get("versions")
    if not isinstance(looked_up, dict):
        return None
    reply = {"answer": state.get("answer", ""), "citations": state.get("citations", [])}
    chunk_ids = [c["chunk_id"] for c in state.get("citations", []) if c.get("chunk_id")]
    try:
        now = await versions(deps.db)
        if now != looked_up:
            log.info("cache store skipped: versions moved during the turn (%s -> %s)", looked_up, now)
            return None
        return await front.store(question, principal.scopes, looked_up, reply, chunk_ids)
    except Exception:  # noqa: BLE001
        log.warning("cache store failed", exc_info=True)
        return None
