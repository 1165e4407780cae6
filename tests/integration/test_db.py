"""memory/db against a real embedded PostgreSQL: migrations, concurrency, unreachable servers."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from memory.db import Database, DatabaseUnavailable, load_migrations, mask_url, migrate_url
from memory.settings import Settings


async def test_migrations_applied_once_under_concurrency(pg_server_url: str) -> None:
    from tests.conftest import _with_db

    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "mig_race"')
        conn.execute('CREATE DATABASE "mig_race"')
    url = _with_db(pg_server_url, "mig_race")
    results = await asyncio.gather(*(migrate_url(url) for _ in range(6)))
    applied = sorted(v for r in results for v in r)
    expected = sorted(m.version for m in load_migrations())
    assert applied == expected, "each migration must be applied exactly once across racing processes"
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT count(*) FROM schema_migrations")
        row = await cur.fetchone()
        assert row is not None and row[0] == len(expected)
        cur = await conn.execute("SELECT extname FROM pg_extension WHERE extname IN ('vector','pg_trgm')")
        assert {r[0] for r in await cur.fetchall()} == {"vector", "pg_trgm"}


async def test_pool_round_trip(db: Database) -> None:
    row = await db.fetchrow("SELECT '[1,2,3]'::vector <=> '[1,2,3]'::vector AS d")
    assert row is not None and row["d"] == pytest.approx(0.0)


async def test_unreachable_database_fails_fast_naming_host(tmp_path) -> None:
    # 10.255.255.1 is non-routable: connect hangs until the timeout.
    s = Settings(
        home=tmp_path,
        database_url="postgresql://bob:s3cret@10.255.255.1:5433/app",  # type: ignore[arg-type]
        db_connect_timeout=2,
        _env_file=None,  # type: ignore[call-arg]
    )
    t0 = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as err:
        await Database.connect(s)
    elapsed = time.monotonic() - t0
    msg = str(err.value)
    assert elapsed < 10
    assert "10.255.255.1:5433" in msg
    assert "s3cret" not in msg and "***" in msg


async def test_refused_connection_names_reason(tmp_path) -> None:
    s = Settings(home=tmp_path, database_url="postgresql://u:pw@127.0.0.1:1/x", _env_file=None)  # type: ignore[arg-type,call-arg]
    with pytest.raises(DatabaseUnavailable) as err:
        await Database.connect(s)
    assert "127.0.0.1:1" in str(err.value)
    assert "refused" in str(err.value).lower()
    assert "pw@" not in str(err.value)


def test_mask_url() -> None:
    assert mask_url("postgresql://a:b@h:1/d") == "postgresql://a:***@h:1/d"
    assert mask_url("host=h password=zz dbname=d") == "host=h password=*** dbname=d"
