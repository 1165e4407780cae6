"""A document's ACL changes from public to internal while a customer's question is in flight (issue 12,
item 6), through the real web API (``POST /v1/query``, uvicorn) on the embedded PostgreSQL.

The races are made deterministic with PostgreSQL locks the test holds: the request runs until it
blocks on the locked table, the ACL change commits, the lock is released and the request finishes.

- keyword hits fetched after the change (the in-memory BM25 snapshot still says "public") are filtered
  by the ACL at fetch: the now-internal chunk is neither cited nor cached;
- a change between the cache lookup and the store: the answer is not stored under the new version's
  public partition, so no later customer is served it.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from pydantic import SecretStr

from memory.documents import store
from memory.settings import Settings
from tools.knowledge import ingest_paths

REPO = Path(__file__).resolve().parents[3]
PUBLIC_CHAPTER = REPO / "data/docs/debian-policy/policy.html/ch-maintainerscripts.html"
SOURCE = "winter-gift-cards.md"
DOC = """# Winter gift card promotion

The winter gift card promotion gives every customer a bonus voucher worth ten dollars.
Gift cards bought during the winter promotion are activated at the till with the code FROST-7781.
The winter gift card promotion ends on the last day of February.
"""
QUESTION = "How are gift cards from the winter promotion activated?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def corpus(deps: Any, tmp_path: Path) -> dict[str, Any]:
    doc = tmp_path / SOURCE
    # a fresh text per test: the answer composer keeps sentence vectors per chunk text in the process
    doc.write_text(DOC + f"\nPromotion reference {uuid.uuid4().hex[:10]}.\n", encoding="utf-8")
    chapter = tmp_path / PUBLIC_CHAPTER.name
    shutil.copy(PUBLIC_CHAPTER, chapter)
    summary = await ingest_paths([doc, chapter], "public")
    assert summary["indexed"] == 2, summary
    row = await deps.db.fetchrow("SELECT id::text AS id FROM documents WHERE source = %s", SOURCE)
    assert row is not None
    return {"doc_id": row["id"]}


@pytest.fixture
def web(settings: Settings, corpus: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The real web app in a uvicorn thread (its own Deps, pgvector cache, offline policy)."""
    from channels.web.app import create_app
    from workers import startup

    startup.background_hooks.disabled = True  # type: ignore[attr-defined]
    s = settings.model_copy(
        update={
            "cache": "pgvector",
            "llm": "offline",
            "index": "pgvector",
            "session_secret": SecretStr("acl-race-test-secret-" + "x" * 32),
        }
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(s), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "web app not ready in time"
        time.sleep(0.2)
    try:
        yield {"url": base, "db_url": settings.database_url.get_secret_value(), **corpus}  # type: ignore[union-attr]
    finally:
        server.should_exit = True
        thread.join(20)
        startup.background_hooks.disabled = False  # type: ignore[attr-defined]


def _customer(base: str) -> dict[str, str]:
    r = httpx.post(base + "/v1/session", timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _ask(base: str, headers: dict[str, str], question: str = QUESTION) -> dict[str, Any]:
    r = httpx.post(base + "/v1/query", json={"message": question}, headers=headers, timeout=180)
    assert r.status_code == 200, r.text
    return dict(r.json())


class _InFlight:
    """A /v1/query in a thread (the test holds a lock it will block on)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.reply: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(base, headers), daemon=True)
        self.thread.start()

    def _run(self, base: str, headers: dict[str, str]) -> None:
        try:
            self.reply = _ask(base, headers)
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self.error = exc

    def result(self) -> dict[str, Any]:
        self.thread.join(180)
        if self.error is not None:
            raise self.error
        assert self.reply is not None, "the in-flight query did not finish"
        return self.reply


def _wait_blocked(conn: psycopg.Connection[Any], fragment: str, req: _InFlight, timeout: float = 120) -> None:
    """Until a backend waits on a lock while running a query containing ``fragment``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s "
            "AND pid <> pg_backend_pid()",
            (f"%{fragment}%",),
        ).fetchone()
        if row and row[0]:
            return
        assert req.thread.is_alive(), f"the query finished without blocking on {fragment!r}: {req.reply}"
        time.sleep(0.05)
    pytest.fail(f"no query blocked on {fragment!r} in {timeout} s")


def _sources(reply: dict[str, Any]) -> set[str]:
    return {c.get("source") for c in reply.get("citations") or []}


def _public_entries_citing(db_url: str, doc_id: str) -> list[tuple[str, ...]]:
    with psycopg.connect(db_url) as conn:
        version = conn.execute("SELECT value #>> '{}' FROM meta WHERE key = 'corpus_version'").fetchone()
        ids = [str(r[0]) for r in conn.execute("SELECT id FROM chunks WHERE doc_id = %s", (doc_id,))]
        rows = conn.execute(
            "SELECT partition FROM cache_entries WHERE chunk_ids && %s::text[] AND partition LIKE %s",
            (ids, f"public|c{version[0] if version else 0}|%"),
        ).fetchall()
    return [tuple(r) for r in rows]


def test_keyword_hit_fetched_after_acl_change_is_filtered(web: dict[str, Any]) -> None:
    base = web["url"]
    warm = _ask(base, _customer(base), "What must maintainer scripts do when they fail?")
    assert warm["answer"], "warm-up query (builds the in-memory BM25 snapshot)"
    with psycopg.connect(web["db_url"]) as locker, psycopg.connect(web["db_url"], autocommit=True) as watch:
        locker.execute("LOCK TABLE chunks IN ACCESS EXCLUSIVE MODE")
        req = _InFlight(base, _customer(base))
        # the request scored its keyword hits on the snapshot (the doc still public) and now fetches them
        _wait_blocked(watch, "FROM chunks c WHERE c.id = ANY", req)
        # the ACL change (as memory.documents.store.update_acl does it) commits while the fetch waits
        locker.execute(
            "UPDATE documents SET acl = 'internal', updated_at = now() WHERE id = %s", (web["doc_id"],)
        )
        ids = [
            r[0]
            for r in locker.execute(
                "UPDATE chunks SET acl = 'internal' WHERE doc_id = %s RETURNING id", (web["doc_id"],)
            )
        ]
        v = locker.execute(
            "UPDATE meta SET value = to_jsonb((value #>> '{}')::bigint + 1), updated_at = now() "
            "WHERE key = 'corpus_version' RETURNING (value #>> '{}')::bigint"
        ).fetchone()
        assert v is not None
        locker.execute(
            "INSERT INTO corpus_changes (version, doc_id, op, deleted_chunk_ids, added_chunk_ids) "
            "VALUES (%s, %s, 'replace', %s, %s)",
            (v[0], web["doc_id"], ids, ids),
        )
        locker.commit()
        raced = req.result()
    assert SOURCE not in _sources(raced), f"the now-internal chunk reached a customer: {raced['citations']}"
    assert "FROST-7781" not in raced["answer"]
    assert not _public_entries_citing(web["db_url"], web["doc_id"]), (
        "an answer citing it was cached as public"
    )
    later = _ask(base, _customer(base))
    assert SOURCE not in _sources(later) and "FROST-7781" not in later["answer"], later


async def test_acl_change_between_cache_lookup_and_store(web: dict[str, Any], deps: Any) -> None:
    base = web["url"]
    with psycopg.connect(web["db_url"]) as locker, psycopg.connect(web["db_url"], autocommit=True) as watch:
        # sentence vectors are read after retrieval and before the answer is stored
        locker.execute("LOCK TABLE embedding_cache IN ACCESS EXCLUSIVE MODE")
        req = _InFlight(base, _customer(base))
        _wait_blocked(watch, "embedding_cache", req)
        change = await store.update_acl(deps.db, web["doc_id"], "internal")  # the real ACL change
        assert change.deleted_chunk_ids
        locker.rollback()  # release: the turn composes its answer (retrieved while public) and ends
        raced = req.result()
    assert SOURCE in _sources(raced), "the in-flight answer was retrieved while the document was public"
    assert not _public_entries_citing(web["db_url"], web["doc_id"]), (
        "the answer was cached in the new version's public partition"
    )
    later = _ask(base, _customer(base))
    assert not later["meta"]["cache_hit"], "a customer was served the cached answer after the ACL change"
    assert SOURCE not in _sources(later) and "FROST-7781" not in later["answer"], later
