"""``libromind db status|stop``: the embedded PostgreSQL of LIBROMIND_HOME and the processes holding it.

Every libromind process that uses the embedded server holds a lease on it; the last one to exit stops it
(see ``memory.db``). These commands show that state and stop a server left behind (after ``kill -9``).
"""

from __future__ import annotations

import json

import typer

from libromind.commands._common import console, fail
from memory.db import DatabaseUnavailable, embedded_status, stop_embedded
from memory.home import MARKER, HomeInUse
from memory.settings import Settings, get_settings

__all__ = ["register"]


def _check_embedded(settings: Settings) -> None:
    if settings.database_url is not None:
        raise fail(
            f"LIBROMIND_DATABASE_URL is set ({settings.masked_database_url()}): that server is not managed by libromind."
        )
    if not (settings.home / MARKER).exists():
        raise fail(f"{settings.home} is not a libromind data directory (no {MARKER}); nothing to do.")


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(
        help="The embedded PostgreSQL of LIBROMIND_HOME: status and stop.", no_args_is_help=True
    )

    @db_app.command("status")
    def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Whether the embedded PostgreSQL runs, its pid and socket, and the processes holding it."""
        settings = get_settings()
        _check_embedded(settings)
        st = embedded_status(settings.pg_dir)
        if as_json:
            console.print_json(json.dumps(st))
            return
        state = f"running (pid {st['pid']}, socket in {st['socket_dir']})" if st["running"] else "stopped"
        console.print(f"embedded PostgreSQL in {st['pg_dir']}: {state}", highlight=False)
        for h in st["holders"]:
            console.print(f"  held by pid {h['pid']}: {h['what']}", highlight=False)
        if st["running"] and not st["holders"]:
            console.print("  no live holder (left behind by a killed process): `libromind db stop` stops it")

    @db_app.command("stop")
    def stop(
        force: bool = typer.Option(False, "--force", help="Stop even while libromind processes hold it."),
    ) -> None:
        """Stop the embedded PostgreSQL (refused while other libromind processes use it, unless --force)."""
        settings = get_settings()
        _check_embedded(settings)
        try:
            stopped, holders = stop_embedded(settings.pg_dir, force=force)
        except (DatabaseUnavailable, HomeInUse) as exc:
            raise fail(str(exc)) from None
        if holders and not force:
            names = ", ".join(f"pid {h.pid} ({h.what})" for h in holders)
            raise fail(f"the embedded PostgreSQL is in use by {names}; stop those first or use --force.")
        console.print("stopped" if stopped else "not running", highlight=False)

    app.add_typer(db_app, name="db")
