"""``libromind serve``: set up (first run: demo data with progress) and serve the web chat + API."""

from __future__ import annotations

import asyncio
import errno
import socket
import time

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from libromind.commands._common import console, fail, open_deps, run
from memory.db import exit_cleanly_on_signals
from memory.home import HomeError, HomeInUse, InstanceLock, ensure_home
from memory.settings import Settings, get_settings

__all__ = ["register", "port_in_use", "prepare"]


def port_in_use(host: str, port: int) -> str | None:
    """Return a description of who holds host:port, or None when it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return f"cannot bind {host}:{port}: {exc.strerror}"
        else:
            return None
    holder = ""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                holder = f" by pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                break
    except Exception:  # noqa: BLE001 - best effort: the port being busy is the message
        holder = ""
    return f"port {port} on {host} is already in use{holder}"


async def prepare(settings: Settings) -> dict[str, object]:
    """Migrate and, on first run, load the demo data, showing progress."""
    t0 = time.perf_counter()
    async with open_deps(settings) as deps:
        if not settings.demo_data:
            return {"demo": "disabled", "seconds": round(time.perf_counter() - t0, 2)}
        from libromind.bootstrap import load_demo_data

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def report(event: dict[str, object]) -> None:
                stage = str(event.get("stage", "setup")).replace("_", " ")
                done, total = event.get("done"), event.get("total")
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=None)
                if isinstance(total, int) and total > 0:
                    progress.update(tasks[stage], total=total)
                if isinstance(done, int):
                    progress.update(tasks[stage], completed=done)
                if event.get("status") in ("done", "skipped"):
                    t = progress.tasks[tasks[stage]]
                    progress.update(tasks[stage], total=t.total or 1, completed=t.total or 1)

            summary = await load_demo_data(deps, progress=report)
    summary = dict(summary or {})
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option(None, help="Bind address (default LIBROMIND_HOST, 127.0.0.1)."),
        port: int = typer.Option(None, help="Port (default LIBROMIND_PORT, 8000)."),
    ) -> None:
        """Serve the web chat, widget and HTTP API (first run: loads the demo data)."""
        import uvicorn

        settings = get_settings()
        if host:
            settings = settings.model_copy(update={"host": host})
        if port:
            settings = settings.model_copy(update={"port": port})
        t0 = time.perf_counter()
        # SIGTERM/SIGHUP end the process through SystemExit, so the embedded PostgreSQL lease is released
        # (uvicorn re-raises the signal after its graceful shutdown; the default action skipped atexit).
        exit_cleanly_on_signals()
        lock = None
        if settings.database_url is None:
            try:
                home = ensure_home(settings.home)
                lock = InstanceLock(home)
                lock.acquire(f"libromind serve on {settings.host}:{settings.port}")
            except (HomeError, HomeInUse) as exc:
                raise fail(str(exc)) from None
        try:
            busy = port_in_use(settings.host, settings.port)
            if busy:
                raise fail(
                    f"{busy}. Stop the other server or choose another port with --port / LIBROMIND_PORT."
                )
            summary = run(prepare(settings))
            console.print(f"[green]ready[/] setup took {summary.get('seconds')} s", highlight=False)

            from channels.web.app import create_app

            web = create_app(settings)
            console.print(
                f"serving on [bold]http://{settings.host}:{settings.port}[/] "
                f"(startup {time.perf_counter() - t0:.1f} s; Ctrl+C to stop)",
                highlight=False,
            )
            config = uvicorn.Config(
                web, host=settings.host, port=settings.port, log_config=None, access_log=False
            )
            asyncio.run(uvicorn.Server(config).serve())
        finally:
            if lock is not None:
                lock.release()
