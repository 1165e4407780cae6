"""Shared fixtures. Integration fixtures start real services (embedded PostgreSQL + pgvector) and
fail loudly when they cannot; unit tests never touch them."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from memory.db import Database, migrate_url, start_embedded  # noqa: E402
from memory.settings import Settings  # noqa: E402
from tools.deps import Deps, use  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DB = "libromind_template"


def _with_db(url: str, name: str) -> str:
    # embedded URIs look like postgresql://postgres:@/postgres?host=/path
    base, _, query = url.partition("?")
    head = base.rsplit("/", 1)[0]
    return f"{head}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A real embedded PostgreSQL 18 + pgvector for the whole session (or LIBROMIND_TEST_DATABASE_URL)."""
    external = os.environ.get("LIBROMIND_TEST_DATABASE_URL")
    if external:
        yield external
        return
    tmp = Path(tempfile.mkdtemp(prefix="libromind-test-pg-"))
    url = start_embedded(tmp / "pg")
    yield url


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> str:
    """A migrated template database; each test clones it (CREATE DATABASE ... TEMPLATE)."""
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    url = _with_db(pg_server_url, TEMPLATE_DB)
    asyncio.run(migrate_url(url))
    return url


@pytest.fixture
def db_url(pg_server_url: str, pg_template: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    yield _with_db(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url, demo_data=False, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await Database.connect(settings)
    yield database
    await database.close()


@pytest.fixture
async def deps(settings: Settings, db: Database) -> AsyncIterator[Deps]:
    d = await Deps.build(settings, db=db)
    use(d)
    yield d
    for value in list(d.extras.values()):
        closer = getattr(value, "aclose", None)
        if closer is not None:
            await closer()
