"""Job queue: a ``Queue`` Protocol, the in-process ``InlineQueue`` (default) and the factory.

Every job is a row in the ``jobs`` table (status queued -> running -> done | failed, progress/total,
result, error), whichever queue runs it, so GET /v1/jobs/{id} works the same for both. An
idempotency key makes enqueueing the same work twice return the first job.

- ``check_capacity()`` refuses (``QueueFull``: HTTP 429 + Retry-After) *before* a caller stores anything.
- An upload's bytes (``uploads``, ``payload.upload_id``) are deleted only when its job reaches a
  terminal state (``finish_job``), so a retried job still finds them.
- The inline queue owns its jobs (``runner``) and heartbeats them; at start (and every minute) it takes
  over jobs left ``queued``/``running`` by a process that died (``recover``), re-running them, or failing
  them visibly after ``MAX_RECOVERIES`` interruptions.
- ``jobs.error`` holds worded messages only; exception details go to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from memory.db import Database
from memory.settings import MissingExtra, Settings
from tools.errors import Unavailable

__all__ = [
    "Queue",
    "InlineQueue",
    "JobContext",
    "JobFailed",
    "BatchRecord",
    "QueueFull",
    "make_queue",
    "recover_inline_jobs",
    "job_status",
    "find_job",
    "create_job",
    "finish_job",
    "JOB_STATUSES",
    "INTERNAL_ERROR",
]

log = logging.getLogger(__name__)
JOB_STATUSES = ("queued", "running", "done", "failed")
JobFn = Callable[["JobContext", dict[str, Any]], Awaitable[dict[str, Any]]]
INTERNAL_ERROR = "The job failed because of an unexpected error; the details are in the server log."
HEARTBEAT_S = 10.0
STALE_S = 60.0  # an inline job whose runner has not said it is alive for this long is taken over
MAX_RECOVERIES = 3


class QueueFull(Unavailable):
    """The job queue is at capacity; retry later (nothing was accepted)."""

    code = "queue_full"
    http_status = 429

    def __init__(self, depth: int, retry_after_s: int) -> None:
        super().__init__(
            f"The job queue is full ({depth} jobs waiting). Nothing was accepted; retry in {retry_after_s} s."
        )
        self.retry_after_s = retry_after_s


@runtime_checkable
class Queue(Protocol):
    async def enqueue(
        self, kind: str, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> str: ...

    async def submit(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        submitted_by: str | None = None,
    ) -> tuple[str, bool]: ...

    async def check_capacity(self) -> None: ...

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
    backend: str | None = None,
    runner: str | None = None,
    submitted_by: str | None = None,
) -> tuple[str, bool]:
    """Insert a job row; return (id, created). With a known idempotency key: (existing id, False)."""
    row = await db.fetchrow(
        "INSERT INTO jobs (kind, payload, idempotency_key, status, total, started_at, backend, runner, "
        "  heartbeat_at, submitted_by) "
        "VALUES (%s, %s::jsonb, %s, %s, %s, CASE WHEN %s::text = 'running' THEN now() END, %s, %s, "
        "  CASE WHEN %s::text IS NOT NULL THEN now() END, %s) "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id::text AS id",
        kind,
        json.dumps(payload),
        idempotency_key,
        status,
        total,
        status,
        backend,
        runner,
        runner,
        submitted_by,
    )
    if row is not None:
        return str(row["id"]), True
    existing = await db.fetchrow(
        "SELECT id::text AS id FROM jobs WHERE idempotency_key = %s", idempotency_key
    )
    assert existing is not None
    return str(existing["id"]), False


async def find_job(
    db: Database, *, job_id: str | None = None, key: str | None = None
) -> dict[str, Any] | None:
    """A job row with its payload and submitter, by id or idempotency key (None when unknown)."""
    where, arg = ("id = %s::uuid", job_id) if job_id is not None else ("idempotency_key = %s", key)
    try:
        return await db.fetchrow(
            "SELECT id::text AS id, kind, status, payload, submitted_by FROM jobs WHERE " + where, arg
        )
    except Exception as exc:
        if "invalid input syntax for type uuid" in str(exc):
            return None
        raise


async def finish_job(
    db: Database, job_id: str, *, result: dict[str, Any] | None = None, error: str | None = None
) -> None:
    """Record a terminal state; an upload's bytes are dropped now (kept for retries until here)."""
    async with db.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "UPDATE jobs SET status = %s, result = %s::jsonb, error = %s, finished_at = now(), "
            "updated_at = now(), "
            "progress = CASE WHEN %s::text IS NULL THEN coalesce(total, progress) ELSE progress END "
            "WHERE id = %s RETURNING payload->>'upload_id' AS upload_id",
            (
                "failed" if error else "done",
                json.dumps(result) if result is not None else None,
                error,
                error,
                job_id,
            ),
        )
        row = await cur.fetchone()
        upload_id = row["upload_id"] if row else None  # type: ignore[call-overload]
        if upload_id:
            await conn.execute("DELETE FROM uploads WHERE id = %s::uuid", (upload_id,))


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
        job_id, _ = await create_job(db, kind, payload, status="running", total=total, backend="batch")
        return cls(db, job_id)

    async def progress(self, done: int, total: int | None = None) -> None:
        await JobContext(self.db, self.job_id).progress(done, total)

    async def finish(self, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        await finish_job(self.db, self.job_id, result=result, error=error)


def _job_functions() -> dict[str, JobFn]:
    from workers.jobs import JOBS

    return JOBS  # type: ignore[return-value]


def _runner_alive(runner: str | None, me: str) -> bool | None:
    """True/False when we can tell (a runner on this host: is its process alive?), else None."""
    if not runner or not runner.startswith("inline:"):
        return None
    try:
        _, host, pid_text, _tag = runner.split(":", 3)
        pid = int(pid_text)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    if pid == os.getpid():
        return runner == me or None  # another queue in this process: only staleness tells
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class InlineQueue:
    """Runs jobs as asyncio tasks in this process (bounded concurrency); state persisted in ``jobs``."""

    def __init__(self, db: Database, *, concurrency: int = 2, max_depth: int = 1000) -> None:
        self.db = db
        self.max_depth = max_depth
        self.runner = f"inline:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._sem = asyncio.Semaphore(max(1, concurrency))
        self._tasks: set[asyncio.Task[None]] = set()
        self._beat: asyncio.Task[None] | None = None

    async def check_capacity(self) -> None:
        row = await self.db.fetchrow(
            "SELECT count(*) AS n FROM jobs WHERE status = 'queued' AND coalesce(backend, 'inline') = 'inline'"
        )
        depth = int(row["n"]) if row else 0
        if depth >= self.max_depth:
            raise QueueFull(depth, retry_after_s=max(5, min(300, depth // 10)))

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
        """Enqueue; return (job id, created) — not created: the idempotency key's existing job."""
        if kind not in _job_functions():
            raise ValueError(f"unknown job kind {kind!r}")
        job_id, created = await create_job(
            self.db,
            kind,
            payload,
            idempotency_key=idempotency_key,
            backend="inline",
            runner=self.runner,
            submitted_by=submitted_by,
        )
        if created:
            self._spawn(job_id, kind, payload)
        return job_id, created

    def _spawn(self, job_id: str, kind: str, payload: dict[str, Any]) -> None:
        task = asyncio.create_task(self._run(job_id, kind, payload), name=f"job-{kind}-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._ensure_beat()

    def _ensure_beat(self) -> None:
        if self._beat is None or self._beat.done():
            self._beat = asyncio.create_task(self._heartbeat(), name="inline-queue-heartbeat")

    async def _run(self, job_id: str, kind: str, payload: dict[str, Any]) -> None:
        async with self._sem:
            await self.db.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(), "
                "heartbeat_at = now(), updated_at = now() WHERE id = %s",
                job_id,
            )
            try:
                result = await _job_functions()[kind](JobContext(self.db, job_id), payload)
            except JobFailed as exc:
                await finish_job(self.db, job_id, result=exc.result, error=str(exc))
            except asyncio.CancelledError:
                # shutting down: leave it queued for the next start (recover) rather than lose it
                await asyncio.shield(
                    self.db.execute(
                        "UPDATE jobs SET status = 'queued', heartbeat_at = NULL, updated_at = now() "
                        "WHERE id = %s AND status = 'running'",
                        job_id,
                    )
                )
                raise
            except Exception:  # noqa: BLE001 - the queue survives any job failure
                log.exception("job %s (%s) failed", job_id, kind)
                await finish_job(self.db, job_id, error=INTERNAL_ERROR)
            else:
                await finish_job(self.db, job_id, result=result)

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            beats += 1
            try:
                await self.db.execute(
                    "UPDATE jobs SET heartbeat_at = now() WHERE runner = %s AND status IN ('queued', 'running')",
                    self.runner,
                )
                if beats % max(1, int(STALE_S // HEARTBEAT_S)) == 0:
                    await self.recover()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep beating through a database blip
                log.warning("inline queue heartbeat failed: %s", type(exc).__name__)

    async def recover(self) -> dict[str, int]:
        """Take over inline jobs left queued/running by a process that is gone; re-run or fail them."""
        rows = await self.db.fetch(
            "SELECT id::text AS id, runner, heartbeat_at < now() - make_interval(secs => %s) "
            "  OR heartbeat_at IS NULL AS stale "
            "FROM jobs WHERE status IN ('queued', 'running') AND coalesce(backend, 'inline') = 'inline' "
            "AND runner IS DISTINCT FROM %s ORDER BY created_at",
            STALE_S,
            self.runner,
        )
        counts = {"requeued": 0, "failed": 0}
        functions = _job_functions()
        for r in rows:
            alive = _runner_alive(r["runner"], self.runner)
            if alive or (alive is None and not r["stale"]):
                continue
            claimed = await self.db.fetchrow(
                "UPDATE jobs SET runner = %s, status = 'queued', heartbeat_at = now(), updated_at = now() "
                "WHERE id = %s::uuid AND status IN ('queued', 'running') AND runner IS NOT DISTINCT FROM %s "
                "RETURNING kind, payload, attempts",
                self.runner,
                r["id"],
                r["runner"],
            )
            if claimed is None:
                continue  # another process took it
            if claimed["kind"] not in functions:
                await finish_job(self.db, r["id"], error="The job kind is unknown to this version.")
                counts["failed"] += 1
            elif int(claimed["attempts"]) >= MAX_RECOVERIES:
                log.warning("job %s interrupted %s times: failing it", r["id"], claimed["attempts"])
                await finish_job(
                    self.db,
                    r["id"],
                    error=f"The job was interrupted {claimed['attempts']} times (server restarts) and was "
                    "stopped; submit it again.",
                )
                counts["failed"] += 1
            else:
                log.info("re-queueing job %s (%s) left by a stopped process", r["id"], claimed["kind"])
                self._spawn(r["id"], claimed["kind"], claimed["payload"])
                counts["requeued"] += 1
        return counts

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
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None


async def recover_inline_jobs(deps: Any) -> dict[str, int] | None:
    """At start (serving process, inline queue): take over jobs a stopped process left behind; then keep
    heartbeating and re-checking every minute. The queue is the one routes use (``deps.extras['queue']``)."""
    if deps.settings.queue != "inline":
        return None
    queue = deps.extras.get("queue")
    if queue is None:
        queue = make_queue(deps.settings, deps.db)
        deps.extras["queue"] = queue
    if not isinstance(queue, InlineQueue):
        return None
    counts = await queue.recover()
    queue._ensure_beat()
    if any(counts.values()):
        log.info("inline queue recovery: %s", counts)
    return counts


def make_queue(settings: Settings, db: Database) -> Queue:
    """The configured queue: ``inline`` (default) or ``arq`` (Redis; workers.arq_queue, lazily)."""
    if settings.queue == "inline":
        return InlineQueue(db, max_depth=settings.queue_max_depth)
    if settings.queue == "arq":
        try:
            module = importlib.import_module("workers.arq_queue")
        except ImportError as exc:
            raise MissingExtra(getattr(exc, "name", None) or "arq", "redis") from exc
        factory = getattr(module, "make_queue", None) or module.ArqQueue
        return factory(settings, db)  # type: ignore[no-any-return]
    raise ValueError(f"unknown queue backend {settings.queue!r}")
