"""Document and chunk persistence (PostgreSQL + pgvector).

The database is the source of truth for the corpus. A document's chunks (and their vectors) are
replaced in **one transaction**, so a search sees either the old version or the new one, never both
and never neither. Every change bumps ``meta.corpus_version`` and writes a ``corpus_changes`` row with
the deleted and added chunk ids (a semantic cache invalidates answers that cited deleted chunks).

Document status: queued -> parsing -> embedding -> indexed | failed (with ``error_code`` and
``error``). A failed re-ingest keeps the previously indexed version's chunks (``content_hash`` is the
hash of what is indexed; ``pending_hash`` of the bytes being processed).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psycopg import AsyncConnection

from memory.db import Database
from memory.documents.versions import (
    NewVersion,
    StagedUpload,
    drop_placeholder,
    get_version,
    list_versions,
    record_version,
    stage_upload,
    unstage_upload,
)

__all__ = [
    "DOC_STATUSES",
    "ChunkRow",
    "DocMeta",
    "ChangeResult",
    "corpus_version",
    "changes_since",
    "begin_document",
    "set_status",
    "mark_failed",
    "fail_pending",
    "replace_chunks",
    "delete_document",
    "update_acl",
    "get_document",
    "get_document_by_source",
    "find_indexed_by_hash",
    "list_documents",
    "fetch_chunks",
    "cached_embeddings",
    "as_array",
    "store_embeddings",
    "text_hash",
    "CHUNK_COLUMNS",
    "NewVersion",
    "StagedUpload",
    "drop_placeholder",
    "get_version",
    "list_versions",
    "stage_upload",
    "unstage_upload",
]

DOC_STATUSES = ("queued", "parsing", "embedding", "indexed", "failed")
CHUNK_COLUMNS = "c.id, c.doc_id, c.source, c.title, c.section, c.page, c.text, c.acl"
_DOC_COLUMNS = (
    "id::text AS id, source, acl, title, author, doc_date, page_count, mime, size_bytes, content_hash, "
    "pending_hash, status, error_code, error, chunk_count, version, uploaded_by, created_at, updated_at, "
    "indexed_at"
)


def text_hash(text: str) -> str:
    """sha256 of a chunk's text (the embedding-cache key, with the model name)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class DocMeta:
    title: str
    author: str | None = None
    date: str | None = None
    page_count: int | None = None
    mime: str | None = None
    size_bytes: int | None = None
    content_hash: str | None = None


@dataclass
class ChunkRow:
    ord: int
    text: str
    section_path: list[str]
    page: int | None
    token_count: int
    embedding: np.ndarray
    text_hash: str = ""

    @property
    def section(self) -> str:
        return " > ".join(self.section_path)


@dataclass
class ChangeResult:
    """What one corpus change did: the new corpus version and the chunk ids removed / added."""

    version: int
    doc_id: str
    deleted_chunk_ids: list[int] = field(default_factory=list)
    added_chunk_ids: list[int] = field(default_factory=list)


async def corpus_version(db: Database) -> int:
    """The corpus version: bumped by every committed change to documents' chunks."""
    row = await db.fetchrow("SELECT (value #>> '{}')::bigint AS v FROM meta WHERE key = 'corpus_version'")
    return int(row["v"]) if row else 0


async def _bump(
    conn: AsyncConnection[Any], doc_id: str, op: str, deleted: list[int], added: list[int]
) -> int:
    cur = await conn.execute(
        "INSERT INTO meta (key, value) VALUES ('corpus_version', '1'::jsonb) "
        "ON CONFLICT (key) DO UPDATE SET value = to_jsonb((meta.value #>> '{}')::bigint + 1), "
        "updated_at = now() "
        "RETURNING (value #>> '{}')::bigint AS v"
    )
    row = await cur.fetchone()
    version = int(row["v"])  # type: ignore[index]
    await conn.execute(
        "INSERT INTO corpus_changes (version, doc_id, op, deleted_chunk_ids, added_chunk_ids) "
        "VALUES (%s, %s, %s, %s, %s)",
        (version, doc_id, op, deleted, added),
    )
    return version


async def changes_since(db: Database, version: int) -> list[dict[str, Any]]:
    """Corpus changes after ``version`` (oldest first): version, doc_id, op, deleted/added chunk ids."""
    return await db.fetch(
        "SELECT version, doc_id::text AS doc_id, op, deleted_chunk_ids, added_chunk_ids, created_at "
        "FROM corpus_changes WHERE version > %s ORDER BY version",
        version,
    )


async def begin_document(
    db: Database,
    source: str,
    acl: str,
    *,
    pending_hash: str | None,
    size_bytes: int | None = None,
    status: str = "queued",
    doc_id: str | None = None,
) -> str:
    """Create (or reuse, by source) the document row for a new ingest attempt; return its id."""
    row = await db.fetchrow(
        "INSERT INTO documents (id, source, acl, title, pending_hash, size_bytes, status) "
        "VALUES (coalesce(%s::uuid, gen_random_uuid()), %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (source) DO UPDATE SET pending_hash = EXCLUDED.pending_hash, "
        "  size_bytes = EXCLUDED.size_bytes, status = EXCLUDED.status, error_code = NULL, error = NULL, "
        "  updated_at = now() "
        "RETURNING id::text AS id",
        doc_id,
        source,
        acl,
        source.rsplit("/", 1)[-1],
        pending_hash,
        size_bytes,
        status,
    )
    assert row is not None
    return str(row["id"])


async def set_status(db: Database, doc_id: str, status: str, *, clear_error: bool = False) -> None:
    if status not in DOC_STATUSES:
        raise ValueError(f"unknown document status {status!r}")
    extra = ", error_code = NULL, error = NULL, pending_hash = NULL" if clear_error else ""
    await db.execute(
        f"UPDATE documents SET status = %s, updated_at = now(){extra} WHERE id = %s", status, doc_id
    )


async def mark_failed(db: Database, doc_id: str, code: str, message: str) -> None:
    """Record a failed attempt (the previously indexed version, if any, stays searchable)."""
    await db.execute(
        "UPDATE documents SET status = 'failed', error_code = %s, error = %s, pending_hash = NULL, "
        "updated_at = now() WHERE id = %s",
        code,
        message[:2000],
        doc_id,
    )


async def fail_pending(db: Database, doc_id: str, pending_hash: str | None, code: str, message: str) -> bool:
    """Mark a document failed if it is still waiting for *this* attempt (same ``pending_hash``)."""
    row = await db.fetchrow(
        "UPDATE documents SET status = 'failed', error_code = %s, error = %s, pending_hash = NULL, "
        "updated_at = now() WHERE id = %s::uuid AND status IN ('queued', 'parsing', 'embedding') "
        "AND pending_hash IS NOT DISTINCT FROM %s RETURNING id",
        code,
        message[:2000],
        doc_id,
        pending_hash,
    )
    return row is not None


async def replace_chunks(
    db: Database,
    doc_id: str,
    acl: str,
    meta: DocMeta,
    chunks: Sequence[ChunkRow],
    embed_model: str | None = None,
    new_version: NewVersion | None = None,
) -> ChangeResult:
    """Atomically replace a document's chunks and mark it indexed (one transaction).

    ``embed_model`` records which model produced the vectors (see tools.passages.reembed_chunk_batch);
    ``new_version`` (the original bytes and uploader) is kept in ``document_versions``, same transaction."""
    async with db.pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT source FROM documents WHERE id = %s FOR UPDATE", (doc_id,))
        doc = await cur.fetchone()
        if doc is None:
            raise LookupError(f"document {doc_id} does not exist")
        source = doc["source"]  # type: ignore[call-overload,index]
        cur = await conn.execute("DELETE FROM chunks WHERE doc_id = %s RETURNING id", (doc_id,))
        deleted = sorted(int(r["id"]) for r in await cur.fetchall())  # type: ignore[call-overload,index]
        if chunks:
            async with conn.cursor().copy(
                "COPY chunks (doc_id, ord, source, title, acl, section, section_path, page, token_count, "
                "text, text_hash, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(
                    [
                        "uuid",
                        "int4",
                        "text",
                        "text",
                        "text",
                        "text",
                        "text[]",
                        "int4",
                        "int4",
                        "text",
                        "text",
                        "vector",
                    ]
                )
                doc_uuid = uuid.UUID(doc_id)
                for c in chunks:
                    await copy.write_row(
                        [
                            doc_uuid,
                            c.ord,
                            source,
                            meta.title,
                            acl,
                            c.section,
                            list(c.section_path),
                            c.page,
                            c.token_count,
                            c.text,
                            c.text_hash or text_hash(c.text),
                            np.asarray(c.embedding, dtype=np.float32),
                        ]
                    )
        if embed_model is not None and chunks:
            await conn.execute("UPDATE chunks SET embed_model = %s WHERE doc_id = %s", (embed_model, doc_id))
        cur = await conn.execute("SELECT id FROM chunks WHERE doc_id = %s ORDER BY ord", (doc_id,))
        added = [int(r["id"]) for r in await cur.fetchall()]  # type: ignore[call-overload,index]
        await conn.execute(
            "UPDATE documents SET acl = %s, title = %s, author = %s, doc_date = %s, page_count = %s, "
            "mime = %s, size_bytes = coalesce(%s, size_bytes), content_hash = %s, pending_hash = NULL, "
            "status = 'indexed', error_code = NULL, error = NULL, chunk_count = %s, version = version + 1, "
            "updated_at = now(), indexed_at = now() WHERE id = %s",
            (
                acl,
                meta.title,
                meta.author,
                meta.date,
                meta.page_count,
                meta.mime,
                meta.size_bytes,
                meta.content_hash,
                len(added),
                doc_id,
            ),
        )
        if new_version is not None:
            await record_version(conn, doc_id, new_version)
        version = await _bump(conn, doc_id, "replace" if deleted else "index", deleted, added)
    return ChangeResult(version, doc_id, deleted, added)


async def update_acl(
    db: Database, doc_id: str, acl: str, new_version: NewVersion | None = None
) -> ChangeResult:
    """Change a document's ACL (same content): chunks keep their vectors (a new version is recorded)."""
    async with db.pool.connection() as conn, conn.transaction():
        await conn.execute(
            "UPDATE documents SET acl = %s, version = version + 1, updated_at = now() WHERE id = %s",
            (acl, doc_id),
        )
        cur = await conn.execute("UPDATE chunks SET acl = %s WHERE doc_id = %s RETURNING id", (acl, doc_id))
        ids = sorted(int(r["id"]) for r in await cur.fetchall())  # type: ignore[call-overload,index]
        if new_version is not None:
            await record_version(conn, doc_id, new_version)
        version = await _bump(conn, doc_id, "replace", ids, ids)
    return ChangeResult(version, doc_id, ids, ids)


async def delete_document(db: Database, doc_id: str) -> ChangeResult | None:
    """Delete a document and its chunks (one transaction)."""
    async with db.pool.connection() as conn, conn.transaction():
        cur = await conn.execute("DELETE FROM chunks WHERE doc_id = %s RETURNING id", (doc_id,))
        deleted = sorted(int(r["id"]) for r in await cur.fetchall())  # type: ignore[call-overload,index]
        cur = await conn.execute("DELETE FROM documents WHERE id = %s RETURNING id", (doc_id,))
        if await cur.fetchone() is None:
            return None
        version = await _bump(conn, doc_id, "delete", deleted, [])
    return ChangeResult(version, doc_id, deleted, [])


async def get_document(db: Database, doc_id: str) -> dict[str, Any] | None:
    try:
        return await db.fetchrow(f"SELECT {_DOC_COLUMNS} FROM documents WHERE id = %s::uuid", doc_id)
    except Exception as exc:  # invalid uuid text
        if "invalid input syntax for type uuid" in str(exc):
            return None
        raise


async def get_document_by_source(db: Database, source: str) -> dict[str, Any] | None:
    return await db.fetchrow(f"SELECT {_DOC_COLUMNS} FROM documents WHERE source = %s", source)


async def find_indexed_by_hash(db: Database, content_hash: str) -> dict[str, Any] | None:
    return await db.fetchrow(
        f"SELECT {_DOC_COLUMNS} FROM documents WHERE content_hash = %s AND status = 'indexed' "
        "ORDER BY created_at LIMIT 1",
        content_hash,
    )


async def list_documents(db: Database, *, limit: int = 1000) -> list[dict[str, Any]]:
    return await db.fetch(f"SELECT {_DOC_COLUMNS} FROM documents ORDER BY source LIMIT %s", limit)


async def fetch_chunks(db: Database, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Chunk rows by id (missing ids are simply absent)."""
    if not ids:
        return {}
    rows = await db.fetch(f"SELECT {CHUNK_COLUMNS} FROM chunks c WHERE c.id = ANY(%s)", [int(i) for i in ids])
    return {int(r["id"]): r for r in rows}


async def cached_embeddings(db: Database, hashes: Sequence[str], model: str) -> dict[str, np.ndarray]:
    if not hashes:
        return {}
    rows = await db.fetch(
        "SELECT text_hash, embedding FROM embedding_cache WHERE model = %s AND text_hash = ANY(%s)",
        model,
        list(set(hashes)),
    )
    return {r["text_hash"]: as_array(r["embedding"]) for r in rows}


def as_array(value: Any) -> np.ndarray:
    """A pgvector value (numpy array or ``pgvector.Vector``) as float32 numpy."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)


async def store_embeddings(db: Database, items: dict[str, np.ndarray], model: str) -> None:
    if not items:
        return
    async with db.pool.connection() as conn, conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _emb (text_hash text, embedding vector(384)) ON COMMIT DROP"
        )
        async with conn.cursor().copy(
            "COPY _emb (text_hash, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as cp:
            cp.set_types(["text", "vector"])
            for h, v in items.items():
                await cp.write_row([h, np.asarray(v, dtype=np.float32)])
        await conn.execute(
            "INSERT INTO embedding_cache (text_hash, model, embedding) "
            "SELECT text_hash, %s, embedding FROM _emb "
            "ON CONFLICT DO NOTHING",
            (model,),
        )
