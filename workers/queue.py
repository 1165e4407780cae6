"""Job queue: a ``Queue`` Protocol, the in-process ``InlineQueue`` (default) and the factory.

Every job is a row in the ``jobs`` table (status queued -> running -> done | failed, progress/total,
result, error), whichever queue runs it, so GET /v1/jobs/{id} works the same for both. An
idempotency key makes enqueueing the same work twice return the first job.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from memory.db import Database
from memory.settings import MissingExtra, Settings

__all__ = ["Queue", "InlineQueue", "JobContext", "BatchRecord", "make_queue", "job_status", "JOB_STATUSES"]

log = logging.getLogger(__name__)
JOB_STATUSES = ("queued", "running", "done", "failed")
JobFn = Callable[["JobContext", dict[str, Any]], Awaitable[dict[str, Any]]]


@runtime_checkable
class Queue(Protocol):
    async def enqueue(
        self, kind: str, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> str: ...

    async def status(self, job_id: str) -> dict[str, Any] | None: ...


class JobFailed(Exception):
    """A job function's clean failure: the job ends ``failed`` with this message (and a result)."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class JobContext:
    db: Database
    job_id: str

    async def progress(self, done: int, total: int | None = None) -> None:
        await self.db.execute(
            "UPDATE jobs SET progress = %s, total = coalesce(%s, total), updated_at = now() WHERE id = %s",
            done,
            total,
            self.job_id,
        )


async def create_job(
    db: Database,
    kind: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    status: str = "queued",
    total: int | None = None,
) -> tuple[str, bool]:
    """Insert a job row; return (id, created). With a known idempotency key: (existing id, False)."""
    row = await db.fetchrow(
        "INSERT INTO jobs (kind, payload, idempotency_key, status, total, started_at) "
        "VALUES (%s, %s::jsonb, %s, %s, %s, CASE WHEN %s::text = 'running' THEN now() END) "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id::text AS id",
        kind,
        json.dumps(payload),
        idempotency_key,
        status,
        total,
        status,
    )
    if row is not None:
        return str(row["id"]), True
    existing = await db.fetchrow(
        "SELECT id::text AS id FROM jobs WHERE idempotency_key = %s", idempotency_key
    )
    assert existing is not None
    return str(existing["id"]), False


async def finish_job(
    db: Database, job_id: str, *, result: dict[str, Any] | None = None, error: str | None = None
) -> None:
    await db.execute(
        "UPDATE jobs SET status = %s, result = %s::jsonb, error = %s, finished_at = now(), "
        "updated_at = now(), "
        "progress = CASE WHEN %s::text IS NULL THEN coalesce(total, progress) ELSE progress END "
        "WHERE id = %s",
        "failed" if error else "done",
        json.dumps(result) if result is not None else None,
        error,
        error,
        job_id,
    )


async def job_status(db: Database, job_id: str) -> dict[str, Any] | None:
    """A job as a JSON-able dict (None when unknown)."""
    try:
        row = await db.fetchrow(
            "SELECT id::text AS id, kind, status, progress, total, error, result, created_at, started_at, "
            "finished_at FROM jobs WHERE id = %s::uuid",
            job_id,
        )
    except Exception as exc:
        if "invalid input syntax for type uuid" in str(exc):
            return None
        raise
    if row is None:
        return None
    for k in ("created_at", "started_at", "finished_at"):
        row[k] = row[k].isoformat() if row[k] else None
    return row


class BatchRecord:
    """A job row for work run directly by the caller (e.g. ``libromind ingest``), for visible progress."""

    def __init__(self, db: Database, job_id: str) -> None:
        self.db, self.job_id = db, job_id

    @classmethod
    async def start(cls, db: Database, kind: str, payload: dict[str, Any], total: int) -> BatchRecord:
        job_id, _ = await create_job(db, kind, payload, status="running", total=total)
        return cls(db, job_id)

    async def progress(self, done: int, total: int | None = None) -> None:
        await JobContext(self.db, self.job_id).progress(done, total)

    async def finish(self, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        await finish_job(self.db, self.job_id, result=result, error=error)


def _job_functions() -> dict[str, JobFn]:
    from workers.jobs import JOBS

    return JOBS  # type: ignore[return-value]


class InlineQueue:
    """Runs jobs as asyncio tasks in this process (bounded concurrency); state persisted in ``jobs``."""

    def __init__(self, db: Database, *, concurrency: int = 2) -> None:
        self.db = db
        self._sem = asyncio.Semaphore(max(1, concurrency))
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, kind: str, payload: dict[str, Any], *, idempotency_key: str | None = None) -> str:
        if kind not in _job_functions():
            raise ValueError(f"unknown job kind {kind!r}")
        job_id, created = await create_job(self.db, kind, payload, idempotency_key=idempotency_key)
        if created:
            task = asyncio.create_task(self._run(job_id, kind, payload), name=f"job-{kind}-{job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return job_id

    async def _run(self, job_id: str, kind: str, payload: dict[str, Any]) -> None:
        async with self._sem:
            await self.db.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(), "
                "updated_at = now() WHERE id = %s",
                job_id,
            )
            try:
                result = await _job_functions()[kind](JobContext(self.db, job_id), payload)
            except JobFailed as exc:
                await finish_job(self.db, job_id, result=exc.result, error=str(exc))
            except asyncio.CancelledError:
                await asyncio.shield(finish_job(self.db, job_id, error="cancelled"))
                raise
            except Exception as exc:  # noqa: BLE001 - the queue survives any job failure
                log.exception("job %s (%s) failed", job_id, kind)
                await finish_job(self.db, job_id, error=f"{type(exc).__name__}: {exc}")
            else:
                await finish_job(self.db, job_id, result=result)

    async def status(self, job_id: str) -> dict[str, Any] | None:
        return await job_status(self.db, job_id)

    async def join(self) -> None:
        """Wait for every job started by this queue (tests, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def make_queue(settings: Settings, db: Database) -> Queue:
    """The configured queue: ``inline`` (default) or ``arq`` (Redis; workers.arq_queue, lazily)."""
    if settings.queue == "inline":
        return InlineQueue(db)
    if settings.queue == "arq":
        try:
            module = importlib.import_module("workers.arq_queue")
        except ImportError as exc:
            raise MissingExtra(getattr(exc, "name", None) or "arq", "redis") from exc
        factory = getattr(module, "make_queue", None) or module.ArqQueue
        return factory(settings, db)  # type: ignore[no-any-return]
    raise ValueError(f"unknown queue backend {settings.queue!r}")
