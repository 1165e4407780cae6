"""Retention through ``libromind jobs run retention`` on the real embedded PostgreSQL: conversations
(LangGraph checkpoints) idle past the limit are deleted whole, old answers and feedback go, recent ones
stay, and 0 days keeps everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent.service import ChatService
from memory.checkpoints import open_saver
from memory.settings import Settings
from tools.deps import Deps

REPO = Path(__file__).resolve().parents[3]
CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


def _run_job(settings: Settings, *args: str, **env_extra: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
    env.update(
        {
            "LIBROMIND_DATABASE_URL": settings.database_url.get_secret_value(),  # type: ignore[union-attr]
            "LIBROMIND_HOME": str(settings.home),
            "LIBROMIND_DEMO_DATA": "false",
            "LIBROMIND_QUEUE": "inline",
            "LIBROMIND_LOG_JSON": "false",
            "HF_HUB_OFFLINE": "1",
            "COLUMNS": "200",
            **env_extra,
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "libromind", "jobs", "run", "retention", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"jobs run retention failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out = proc.stdout
    start = 0 if out.startswith("{") else out.rindex("\n{") + 1  # the job printed as JSON, last
    return dict(json.loads(out[start:]))


async def _threads(deps: Deps) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for table in CHECKPOINT_TABLES:
        for row in await deps.db.fetch(f"SELECT thread_id, count(*) AS n FROM {table} GROUP BY thread_id"):
            out.setdefault(row["thread_id"], {t: 0 for t in CHECKPOINT_TABLES})[table] = int(row["n"])
    return out


async def _age_thread(deps: Deps, thread_id: str, days: int, *, last_only: bool = False) -> None:
    """Make a conversation's checkpoints (or only its latest) ``days`` old (LangGraph's ``ts`` format)."""
    last = " AND checkpoint_id = (SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = %s)"
    await deps.db.execute(
        "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{ts}', "
        "to_jsonb(to_char((now() - make_interval(days => %s)) AT TIME ZONE 'UTC', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\'))) WHERE thread_id = %s' + (last if last_only else ""),
        days,
        thread_id,
        *([thread_id] if last_only else []),
    )


async def test_retention_deletes_old_conversations_answers_and_feedback(
    deps: Deps, settings: Settings
) -> None:
    svc = await ChatService.create(deps, cache=False)
    old = await svc.ask("customer:old", "t-old", "Where is my order?", channel="web")
    await svc.ask("customer:old", "t-old", "And how long does shipping take?", channel="web")
    await svc.ask("customer:rated", "t-rated", "Hello there", channel="web")
    rated = await svc.ask("customer:rated", "t-rated", "Do you ship abroad?", channel="web")
    new = await svc.ask("customer:new", "t-new", "What are your opening hours?", channel="web")
    for reply, who in ((old, "customer:old"), (rated, "customer:rated"), (new, "customer:new")):
        await svc.feedback(reply["answer_id"], who, 1, channel="web")

    threads = await _threads(deps)
    assert len(threads) == 3, threads
    by_owner = {tid.split("/")[0]: tid for tid in threads}
    old_tid, rated_tid, new_tid = (
        by_owner["customer:old"],
        by_owner["customer:rated"],
        by_owner["customer:new"],
    )
    # a pending write left on the old conversation (as an interrupted turn leaves one)
    saver = await open_saver(deps.db)
    latest = await saver.aget_tuple({"configurable": {"thread_id": old_tid, "checkpoint_ns": ""}})
    assert latest is not None
    await saver.aput_writes(latest.config, [("notes", "interrupted")], task_id="task-1")
    threads = await _threads(deps)
    for tid in (old_tid, rated_tid):
        assert threads[tid]["checkpoints"] >= 2 and threads[tid]["checkpoint_blobs"] > 0, threads
    assert threads[old_tid]["checkpoint_writes"] > 0, threads

    # the old conversation was last active 40 days ago; the rated one began 400 days ago but was last
    # active 10 days ago (kept whole: a conversation goes only when all of it is idle)
    await _age_thread(deps, old_tid, 40)
    await _age_thread(deps, rated_tid, 400)
    await _age_thread(deps, rated_tid, 10, last_only=True)
    # answers of the old and rated conversations are 100 days old; the old one's feedback 400 days, the
    # rated one's 10 days (kept, and it keeps its answer); the new conversation's are from today
    await deps.db.execute(
        "UPDATE answers SET created_at = now() - interval '100 days' WHERE principal = ANY(%s)",
        ["customer:old", "customer:rated"],
    )
    await deps.db.execute(
        "UPDATE feedback SET created_at = now() - interval '400 days', updated_at = now() - interval '400 days' "
        "WHERE answer_id = %s",
        old["answer_id"],
    )
    await deps.db.execute(
        "UPDATE feedback SET updated_at = now() - interval '10 days' WHERE answer_id = %s", rated["answer_id"]
    )
    before = await _threads(deps)

    # 0 days keeps everything forever
    kept = _run_job(
        settings,
        LIBROMIND_RETENTION_CHECKPOINT_DAYS="0",
        LIBROMIND_RETENTION_ANSWER_DAYS="0",
        LIBROMIND_RETENTION_FEEDBACK_DAYS="0",
    )
    assert kept["status"] == "done", kept
    assert await _threads(deps) == before
    assert len(await deps.db.fetch("SELECT id FROM answers")) == 5  # 2 + 2 + 1 turns

    # the defaults: conversations idle 30 days, answers 90 days, feedback 365 days
    done = _run_job(settings)
    assert done["status"] == "done", done
    # deleted: the old conversation; its 2 answers and its feedback; the rated conversation's unrated answer
    assert (done["result"]["threads"], done["result"]["answers"], done["result"]["feedback"]) == (1, 3, 1), (
        done
    )

    after = await _threads(deps)
    assert old_tid not in after, f"the idle conversation is not deleted whole: {after.get(old_tid)}"
    for table in CHECKPOINT_TABLES:
        rows = await deps.db.fetch(f"SELECT count(*) AS n FROM {table} WHERE thread_id = %s", old_tid)
        assert rows[0]["n"] == 0, table
    assert after[new_tid] == before[new_tid] and after[rated_tid] == before[rated_tid]

    answers = {r["id"] for r in await deps.db.fetch("SELECT id FROM answers")}
    assert answers == {rated["answer_id"], new["answer_id"]}
    feedback = {r["answer_id"] for r in await deps.db.fetch("SELECT answer_id FROM feedback")}
    assert feedback == {rated["answer_id"], new["answer_id"]}

    # the kept conversation still works: a follow-up turn on it answers and checkpoints again
    follow = await svc.ask("customer:rated", "t-rated", "Thanks, and to Canada?", channel="web")
    assert follow["answer"]

    # an explicit payload overrides the settings (1 day: the rated conversation's old part alone is not enough)
    override = _run_job(settings, "--payload", json.dumps({"checkpoint_days": 1, "answer_days": 1}))
    assert override["result"]["threads"] == 0 and override["result"]["policy"]["answer_days"] == 1


async def test_a_serving_process_runs_retention_in_the_background(deps: Deps, settings: Settings) -> None:
    """``libromind serve`` deletes idle conversations on its own (at start, then every interval)."""
    import asyncio
    import time

    from tests.integration.web.test_limits import _serve

    svc = await ChatService.create(deps, cache=False)
    await svc.ask("customer:idle", "t-idle", "Where is my order?", channel="web")
    await svc.ask("customer:busy", "t-busy", "Where is my order?", channel="web")
    by_owner = {tid.split("/")[0]: tid for tid in await _threads(deps)}
    await _age_thread(deps, by_owner["customer:idle"], 45)
    with _serve(settings.database_url.get_secret_value()):  # type: ignore[union-attr]
        deadline = time.monotonic() + 60
        while by_owner["customer:idle"] in await _threads(deps):
            assert time.monotonic() < deadline, "the serving process did not run retention"
            await asyncio.sleep(0.5)
    assert by_owner["customer:busy"] in await _threads(deps)
