"""``libromind worker``: run a pool of arq workers consuming the Redis job queue."""

from __future__ import annotations

import asyncio

import typer

from libromind.commands._common import console, fail, run
from memory.settings import get_settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        burst: bool = typer.Option(False, help="Exit when the queue is empty (batch runs, tests)."),
        max_jobs: int = typer.Option(4, help="Jobs run concurrently by this worker."),
        check: bool = typer.Option(False, "--check", help="Health check: exit 0 when Redis answers."),
    ) -> None:
        """Run background jobs (ingest, embed, reindex, feedback) from the Redis queue (arq)."""
        settings = get_settings()
        if settings.redis_url is None:
            raise fail(
                "libromind worker needs LIBROMIND_REDIS_URL (and LIBROMIND_QUEUE=arq for the API). "
                "Without Redis, jobs run inline inside `libromind serve`."
            )
        from workers.arq_queue import build_worker, queue_depth

        if check:

            async def ping() -> int:
                from arq import create_pool

                from workers.arq_queue import redis_settings

                redis = await create_pool(redis_settings(settings))
                try:
                    return await queue_depth(redis, settings.queue_name)
                finally:
                    await redis.aclose()

            depth = run(ping())
            console.print(f"ok: redis reachable, {depth} jobs queued")
            return
        w = build_worker(settings, burst=burst, max_jobs=max_jobs)
        console.print(f"worker consuming {settings.queue_name} (max {max_jobs} concurrent jobs)")
        if burst:

            async def drain() -> None:
                try:
                    await w.async_run()
                finally:
                    await w.close()

            asyncio.run(drain())
        else:
            w.run()
