"""The ``retention`` job: delete idle conversations, old answers and old feedback (memory/retention.py).

Runs on demand (``libromind jobs run retention``, optional payload ``{"checkpoint_days": N,
"answer_days": N, "feedback_days": N}`` overriding the LIBROMIND_RETENTION_* settings), every
``LIBROMIND_RETENTION_INTERVAL_S`` in each serving process (:func:`retention_in_background`, a
background hook) and hourly on arq workers (:data:`CRON`). Runs never overlap (a PostgreSQL advisory
lock); a run finding the lock taken does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from memory.db import Database
from memory.retention import RetentionPolicy, RetentionResult, apply_retention
from memory.settings import Settings
from tools.deps import Deps
from workers.queue import JobContext

__all__ = ["retention", "run_retention", "retention_in_background", "retention_cron"]

log = logging.getLogger(__name__)
_LOCK = 0x6C6D_7274  # "lmrt"


async def run_retention(
    db: Database, settings: Settings, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One retention pass under the advisory lock; the counts deleted (``skipped`` when another runs)."""
    policy = RetentionPolicy.from_settings(settings, overrides)
    async with db.pool.connection() as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_LOCK,))
        row = await cur.fetchone()
        got = bool(row["ok"] if isinstance(row, dict) else row and row[0])
        if not got:
            return {**RetentionResult().to_dict(), "skipped": True}
        try:
            result = await apply_retention(db, policy)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
    out: dict[str, Any] = {**result.to_dict(), "policy": vars(policy)}
    if any(result.to_dict().values()):
        log.info("retention: deleted %s", result.to_dict())
    return out


async def retention(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Delete conversations idle, answers and feedback older than the configured (or given) days."""
    from tools.deps import current

    await ctx.progress(0, 1)
    result = await run_retention(ctx.db, current().settings, payload)
    await ctx.progress(1, 1)
    return result


async def retention_in_background(deps: Deps) -> None:
    """Background hook: a retention pass at start, then every ``retention_interval_s`` (0: never)."""
    interval = deps.settings.retention_interval_s
    if interval <= 0:
        return
    while True:
        try:
            await run_retention(deps.db, deps.settings)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - logged; the next pass retries
            log.exception("retention pass failed")
        await asyncio.sleep(interval)


async def retention_cron(ctx: dict[str, Any]) -> dict[str, Any]:
    """arq cron entry (workers/arq_queue.py): one pass with the worker's resources."""
    deps: Deps = ctx["deps"]
    return await run_retention(deps.db, deps.settings)
