"""LangGraph conversation checkpoints in our PostgreSQL (langgraph-checkpoint-postgres).

The saver shares the application's pool (same database, autocommit, dict rows). ``setup()`` creates and
migrates its tables; it runs under an advisory lock so processes starting together do it once.
Thread ids are namespaced by principal and channel (:func:`thread_key`) so one user can never load
another user's conversation.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    from memory.db import Database

__all__ = ["open_saver", "thread_key", "delete_thread"]

_SETUP_LOCK = 0x6C69_6368  # "lich"


def thread_key(principal_key: str, channel: str, thread: str) -> str:
    """The checkpoint thread id for a principal's conversation on a channel.

    The principal is part of the key, so the same channel thread id used by two principals names two
    different conversations; the raw thread id is hashed so it cannot smuggle separators.
    """
    digest = hashlib.sha256(thread.encode()).hexdigest()[:24]
    return f"{principal_key}/{channel}/{digest}"


async def open_saver(db: Database) -> AsyncPostgresSaver:
    """An AsyncPostgresSaver on ``db.pool`` with its tables set up (idempotent, concurrency-safe)."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    saver = AsyncPostgresSaver(db.pool)  # type: ignore[arg-type]
    async with db.pool.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
        try:
            await saver.setup()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
    return saver


async def delete_thread(saver: AsyncPostgresSaver, thread_id: str) -> None:
    await saver.adelete_thread(thread_id)
