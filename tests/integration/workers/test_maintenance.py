"""Maintenance jobs through the inline queue and the `libromind jobs` CLI, on real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.service import ChatService
from tests.integration.seed import seed_small
from workers.queue import InlineQueue

REPO = Path(__file__).resolve().parents[3]


async def test_maintenance_jobs_run_and_are_idempotent(deps, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await seed_small(deps, tmp_path, books=120)
    chat = await ChatService.create(deps, memory="memory", cache=False)
    reply = await chat.ask(
        "customer:c9", None, "Should shared libraries be installed executable?", channel="web"
    )
    await chat.feedback(reply["answer_id"], "customer:c9", 1, channel="web")
    q = InlineQueue(deps.db)

    async def run(kind: str, payload: dict) -> dict:  # type: ignore[type-arg]
        job_id = await q.enqueue(kind, payload)
        await q.join()
        st = await q.status(job_id)
        assert st is not None and st["status"] == "done", st
        assert st["progress"] == st["total"]
        return st["result"]  # type: ignore[no-any-return]

    emb = await run("embed_batch", {"limit": 50})
    assert emb["embedded"] == 50 and emb["remaining"] >= 0
    pending = await deps.db.fetchrow("SELECT count(*) AS n FROM chunks WHERE NOT passages_ready")
    pas = await run("embed_passages", {})
    assert pas == {"chunks": pending["n"], "remaining": 0} and pending["n"] > 0
    assert await run("embed_passages", {}) == {"chunks": 0, "remaining": 0}  # idempotent
    await deps.db.execute("UPDATE chunks SET embed_model = 'another-model' WHERE id % 2 = 0")
    redo = await run("reembed_chunks", {})
    assert redo["chunks"] > 0 and await run("reembed_chunks", {}) == {"chunks": 0}
    kw = await run("rebuild_keyword_index", {})
    assert kw["chunks"] > 0 and kw["bm25"] is True
    first = await run("aggregate_feedback", {})
    again = await run("aggregate_feedback", {})  # re-run after a "crash": one copy of the aggregates
    assert first == again and first["answers"] >= 1 and first["up"] == 1
    rows = await deps.db.fetch("SELECT * FROM feedback_daily")
    assert sum(r["up"] for r in rows) == 1


def test_jobs_cli_runs_and_reports(settings, db) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
    env.update(
        {
            "LIBROMIND_DATABASE_URL": settings.database_url.get_secret_value(),
            "LIBROMIND_LOG_JSON": "true",
            "LIBROMIND_HOME": str(settings.home),
            "COLUMNS": "200",
        }
    )
    r = subprocess.run(
        [sys.executable, "-m", "libromind", "jobs", "run", "aggregate_feedback"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    body = r.stdout[r.stdout.index("{") :]
    result = json.loads(body)
    assert result["status"] == "done" and result["kind"] == "aggregate_feedback"
    bad = subprocess.run(
        [sys.executable, "-m", "libromind", "jobs", "run", "no_such_job"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unknown job kind" in bad.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "libromind", "jobs", "list"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0 and "aggregate_feedback" in listed.stdout
