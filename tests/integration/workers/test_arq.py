"""arq queue + worker against a real Redis (Debian's redis-server) and the real embedded PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from memory.settings import Settings
from workers import jobs as jobs_module
from workers.arq_queue import ArqQueue, QueueFull, build_worker
from workers.queue import JobContext, JobFailed

CALLS: dict[str, int] = {}


async def _flaky(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    key = payload["key"]
    CALLS[key] = CALLS.get(key, 0) + 1
    await ctx.progress(CALLS[key], 3)
    if CALLS[key] < payload["fail_times"] + 1:
        raise ConnectionError("transient failure")
    # idempotent effect: one row per key whatever the number of runs
    await ctx.db.execute(
        "INSERT INTO meta (key, value) VALUES (%s, '1'::jsonb) ON CONFLICT (key) DO NOTHING", f"effect:{key}"
    )
    return {"runs": CALLS[key]}


async def _broken(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    raise JobFailed("The file is a truncated PDF.")


@pytest.fixture(autouse=True)
def _test_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(jobs_module.JOBS, "flaky", _flaky)
    monkeypatch.setitem(jobs_module.JOBS, "broken", _broken)
    CALLS.clear()


async def _drain(settings: Settings) -> None:
    worker = build_worker(settings, burst=True, max_jobs=2)
    try:
        await worker.async_run()
    finally:
        await worker.close()


async def test_retries_with_backoff_then_done_once(arq_settings: Settings, db) -> None:  # type: ignore[no-untyped-def]
    q = ArqQueue(arq_settings, db)
    # job_max_tries=3: two transient failures then success; backoff 2 s, 4 s
    job_id = await q.enqueue("flaky", {"key": "a", "fail_times": 2})
    await _drain(arq_settings)
    status = await q.status(job_id)
    assert status is not None and status["status"] == "done", status
    assert status["result"] == {"runs": 3}
    row = await db.fetchrow("SELECT attempts FROM jobs WHERE id = %s", job_id)
    assert row["attempts"] == 3
    effects = await db.fetch("SELECT key FROM meta WHERE key = 'effect:a'")
    assert len(effects) == 1
    await q.aclose()


async def test_clean_failure_not_retried(arq_settings: Settings, db) -> None:  # type: ignore[no-untyped-def]
    q = ArqQueue(arq_settings, db)
    job_id = await q.enqueue("broken", {})
    await _drain(arq_settings)
    status = await q.status(job_id)
    assert status["status"] == "failed" and "truncated PDF" in status["error"]
    row = await db.fetchrow("SELECT attempts FROM jobs WHERE id = %s", job_id)
    assert row["attempts"] == 1
    await q.aclose()


async def test_idempotency_key_and_redelivery_give_one_job(arq_settings: Settings, db) -> None:  # type: ignore[no-untyped-def]
    q = ArqQueue(arq_settings, db)
    first = await q.enqueue("flaky", {"key": "b", "fail_times": 0}, idempotency_key="upload-123")
    second = await q.enqueue("flaky", {"key": "b", "fail_times": 0}, idempotency_key="upload-123")
    assert first == second
    assert await q.depth() == 1
    await _drain(arq_settings)
    # a crash-redelivered copy of a finished job (same arq id) changes nothing
    pool = await q._pool()
    await pool.enqueue_job("flaky", first, {"key": "b", "fail_times": 0})
    await _drain(arq_settings)
    assert CALLS["b"] == 1
    rows = await db.fetch("SELECT id FROM jobs WHERE kind = 'flaky'")
    assert len(rows) == 1
    await q.aclose()


async def test_backpressure_refuses_and_loses_nothing_accepted(arq_settings: Settings, db) -> None:  # type: ignore[no-untyped-def]
    s = arq_settings.model_copy(update={"queue_max_depth": 3})
    q = ArqQueue(s, db)
    accepted = [await q.enqueue("flaky", {"key": f"k{i}", "fail_times": 0}) for i in range(3)]
    with pytest.raises(QueueFull) as err:
        await q.enqueue("flaky", {"key": "k-rejected", "fail_times": 0})
    assert err.value.http_status == 429 and err.value.retry_after_s >= 1
    assert "Nothing was accepted" in err.value.message
    rows = await db.fetch("SELECT id::text AS id FROM jobs ORDER BY created_at")
    assert sorted(r["id"] for r in rows) == sorted(accepted)
    await _drain(s)
    for job_id in accepted:
        assert (await q.status(job_id))["status"] == "done"
    assert "k-rejected" not in CALLS
    await q.aclose()
