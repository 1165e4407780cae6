"""``libromind jobs``: enqueue background jobs and follow their status and progress."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from libromind.commands._common import console, fail, open_deps, run

__all__ = ["register"]


async def _follow(queue: Any, job_id: str) -> dict[str, Any]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(job_id[:8], total=None)
        while True:
            st = await queue.status(job_id)
            if st is None:
                raise fail(f"job {job_id} disappeared")
            progress.update(
                task,
                description=f"{st['kind']} {st['status']}",
                completed=st["progress"],
                total=st["total"] or None,
            )
            if st["status"] in ("done", "failed"):
                return dict(st)
            await asyncio.sleep(0.3)


def register(app: typer.Typer) -> None:
    jobs_app = typer.Typer(help="Background jobs (ingest, embed, reindex, feedback).", no_args_is_help=True)

    @jobs_app.command("run")
    def run_job(
        kind: str = typer.Argument(
            ...,
            help="ingest_document | reindex | embed_batch | rebuild_keyword_index | aggregate_feedback | sweep_orphans",
        ),
        payload: str = typer.Option("{}", help="JSON payload for the job."),
        wait: bool = typer.Option(
            True, help="Follow progress until the job ends (always with the inline queue)."
        ),
    ) -> None:
        """Enqueue a job on the configured queue (inline runs it here; arq hands it to workers)."""
        from workers.jobs import JOBS
        from workers.queue import make_queue

        if kind not in JOBS:
            raise fail(f"unknown job kind {kind!r}; one of: {', '.join(sorted(JOBS))}")
        try:
            body = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise fail(f"--payload is not valid JSON: {exc}") from None

        async def go() -> dict[str, Any]:
            async with open_deps() as deps:
                queue = make_queue(deps.settings, deps.db)
                deps.extras["queue"] = queue
                job_id = await queue.enqueue(kind, body)
                if not wait and deps.settings.queue != "inline":
                    return {"id": job_id, "status": "queued"}
                return await _follow(queue, job_id)

        result = run(go())
        console.print_json(json.dumps(result, default=str))
        if result.get("status") == "failed":
            raise typer.Exit(1)

    @jobs_app.command("status")
    def status(job_id: str) -> None:
        """Show one job's status, progress, result or error."""
        from workers.queue import job_status

        async def go() -> dict[str, Any] | None:
            async with open_deps() as deps:
                return await job_status(deps.db, job_id)

        st = run(go())
        if st is None:
            raise fail(f"no job {job_id}")
        console.print_json(json.dumps(st, default=str))

    @jobs_app.command("list")
    def list_jobs(limit: int = typer.Option(20, help="How many recent jobs.")) -> None:
        """List recent jobs."""

        async def go() -> list[dict[str, Any]]:
            async with open_deps() as deps:
                return await deps.db.fetch(
                    "SELECT id::text AS id, kind, status, progress, total, error, created_at FROM jobs "
                    "ORDER BY created_at DESC LIMIT %s",
                    limit,
                )

        table = Table("id", "kind", "status", "progress", "created", "error")
        for r in run(go()):
            table.add_row(
                r["id"][:8],
                r["kind"],
                r["status"],
                f"{r['progress']}/{r['total'] or '?'}",
                r["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
                (r["error"] or "")[:60],
            )
        console.print(table)

    app.add_typer(jobs_app, name="jobs")
