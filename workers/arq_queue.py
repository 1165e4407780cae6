"""The arq (Redis) queue and worker: same job functions and ``jobs`` table as the inline queue.

- Enqueue writes the job row first (idempotency key honoured), then pushes an arq job whose id *is* the
  row id, so a duplicate push is a no-op and a crashed worker's job is re-run by arq (jobs are idempotent:
  ingestion replaces a document atomically).
- Backpressure: past ``queue_max_depth`` queued jobs, ``check_capacity``/``enqueue`` raise ``QueueFull``
  (HTTP 429 with Retry-After) *before* accepting anything, so nothing accepted is lost; Redis being
  unreachable is ``QueueUnavailable`` (503). A failed push removes the job row (callers that stored
  bytes for the job remove them too: memory.documents.versions.unstage_upload).
- Retries: unexpected errors are retried with exponential backoff up to ``job_max_tries``; a clean
  ``JobFailed`` (e.g. a broken PDF) fails at once. Each job has a timeout.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Function, Retry, Worker, func

from memory.db import Database
from memory.settings import Settings
from tools.errors import Unavailable
from workers.queue import INTERNAL_ERROR, JobContext, JobFailed, QueueFull, create_job, finish_job, job_status

__all__ = [
    "ArqQueue",
    "QueueFull",
    "QueueUnavailable",
    "make_queue",
    "build_worker",
    "queue_depth",
    "redis_settings",
]

log = logging.getLogger(__name__)


class QueueUnavailable(Unavailable):
    """Redis (the job queue) cannot be reached; nothing was accepted."""

    code = "queue_unavailable"

    def __init__(self) -> None:
        super().__init__("The job queue is unavailable right now. Nothing was accepted; try again shortly.")
        self.retry_after_s = 30


def redis_settings(settings: Settings) -> RedisSettings:
    if settings.redis_url is None:
        raise ValueError("LIBROMIND_QUEUE=arq needs LIBROMIND_REDIS_URL (e.g. redis://localhost:6379/0).")
    return RedisSettings.from_dsn(settings.redis_url.get_secret_value())


async def queue_depth(redis: ArqRedis, queue_name: str) -> int:
    return int(await redis.zcard(queue_name))


class ArqQueue:
    """Queue Protocol over arq; state and progress live in PostgreSQL like the inline queue."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._redis: ArqRedis | None = None

    async def _pool(self) -> ArqRedis:
        if self._redis is None:
            self._redis = await create_pool(
                redis_settings(self.settings), default_queue_name=self.settings.queue_name
            )
        return self._redis

    async def check_capacity(self) -> ArqRedis:
        """Raise ``QueueFull`` (429) at ``queue_max_depth``, ``QueueUnavailable`` (503) without Redis."""
        try:
            redis = await self._pool()
            depth = await queue_depth(redis, self.settings.queue_name)
        except Exception as exc:  # noqa: BLE001 - any Redis/connection failure
            log.warning("job queue unavailable: %s: %s", type(exc).__name__, exc)
            await self._drop_pool()
            raise QueueUnavailable() from None
        if depth >= self.settings.queue_max_depth:
            raise QueueFull(depth, retry_after_s=max(5, min(300, depth // 10)))
        return redis

    async def enqueue(self, kind: str, payload: dict[str, Any], *, idempotency_key: str | None = None) -> str:
        job_id, _ = await self.submit(kind, payload, idempotency_key=idempotency_key)
        return job_id

    async def submit(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        submitted_by: str | None = None,
    ) -> tuple[str, bool]:
        """Enqueue; return (job id, created). Nothing is left behind when the push fails."""
        from workers.jobs import JOBS

        if kind not in JOBS:
            raise ValueError(f"unknown job kind {kind!r}")
        redis = await self.check_capacity()
        job_id, created = await create_job(
            self.db,
            kind,
            payload,
            idempotency_key=idempotency_key,
            backend="arq",
            submitted_by=submitted_by,
        )
        if created:
            try:
                await redis.enqueue_job(kind, job_id, payload, _job_id=job_id)
            except Exception as exc:  # noqa: BLE001 - not accepted after all
                log.warning("enqueue of job %s failed: %s: %s", job_id, type(exc).__name__, exc)
                # remove the row so the caller's retry starts clean
                await self.db.execute("DELETE FROM jobs WHERE id = %s AND status = 'queued'", job_id)
                await self._drop_pool()
                raise QueueUnavailable() from None
        return job_id, created

    async def _drop_pool(self) -> None:
        redis, self._redis = self._redis, None
        if redis is not None:
            try:
                await redis.aclose()
            except Exception:  # noqa: BLE001 - already broken
                log.debug("closing a broken Redis pool failed", exc_info=True)

    async def status(self, job_id: str) -> dict[str, Any] | None:
        return await job_status(self.db, job_id)

    async def depth(self) -> int:
        return await queue_depth(await self._pool(), self.settings.queue_name)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def make_queue(settings: Settings, db: Database) -> ArqQueue:
    return ArqQueue(settings, db)


def _runner(kind: str, max_tries: int) -> Any:
    async def run(ctx: dict[str, Any], job_id: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        from workers.jobs import JOBS

        db: Database = ctx["deps"].db
        row = await db.fetchrow("SELECT status FROM jobs WHERE id = %s::uuid", job_id)
        if row is not None and row["status"] in ("done", "failed"):
            return None  # re-delivered after completion: exactly one effect
        await db.execute(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(), updated_at = now() "
            "WHERE id = %s",
            job_id,
        )
        try:
            result = await JOBS[kind](JobContext(db, job_id), payload)
        except JobFailed as exc:
            await finish_job(db, job_id, result=exc.result, error=str(exc))
            return exc.result
        except Exception as exc:  # noqa: BLE001 - retried with backoff, then recorded as failed
            attempt = int(ctx.get("job_try", 1))
            if attempt < max_tries:
                delay = min(60.0, 2.0**attempt)
                log.warning(
                    "job %s (%s) attempt %d failed: %s; retrying in %.0f s", job_id, kind, attempt, exc, delay
                )
                await db.execute(
                    "UPDATE jobs SET status = 'queued', updated_at = now() WHERE id = %s", job_id
                )
                raise Retry(defer=delay) from exc
            log.exception("job %s (%s) failed after %d attempts", job_id, kind, attempt)
            await finish_job(db, job_id, error=f"{INTERNAL_ERROR} ({attempt} attempts)")
            return None
        await finish_job(db, job_id, result=result)
        return result

    run.__name__ = kind
    return run


def build_worker(settings: Settings, *, burst: bool = False, max_jobs: int = 4) -> Worker:
    """An arq Worker running every job kind, with libromind resources opened on start-up."""
    from tools.deps import Deps, use
    from workers.jobs import JOBS

    async def startup(ctx: dict[str, Any]) -> None:
        deps = await Deps.build(settings)
        use(deps)
        ctx["deps"] = deps

    async def shutdown(ctx: dict[str, Any]) -> None:
        deps = ctx.get("deps")
        if deps is not None:
            await deps.close()

    functions: list[Function] = [
        func(
            _runner(kind, settings.job_max_tries),
            name=kind,
            max_tries=settings.job_max_tries + 1,
            timeout=settings.job_timeout_s,
        )
        for kind in JOBS
    ]
    return Worker(
        functions=functions,
        queue_name=settings.queue_name,
        redis_settings=redis_settings(settings),
        on_startup=startup,
        on_shutdown=shutdown,
        burst=burst,
        max_jobs=max_jobs,
        job_timeout=settings.job_timeout_s,
        keep_result=3600,
        handle_signals=not burst,
        health_check_interval=30,
        cron_jobs=[retention_cron_job()],
    )


def retention_cron_job() -> Any:
    """Hourly retention pass on arq workers (workers/retention.py; runs never overlap)."""
    from arq.cron import cron

    from workers.retention import retention_cron

    return cron(retention_cron, name="retention", minute=17, run_at_startup=True, unique=True)
