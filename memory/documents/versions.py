"""Document versions and upload staging.

Every indexed version of a document (its original bytes, ACL, title and who uploaded it) is kept in
``document_versions``, written in the same transaction that makes that version current, so a replaced
document can be restored (``memory.documents.ingest.restore_version``; HTTP: POST
/v1/documents/{id}/restore). An upload is *staged* (the document row marked ``queued`` and the bytes
stored in ``uploads``) in one transaction and *unstaged* (a compensating delete) when its job cannot be
accepted, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from memory.db import Database

__all__ = [
    "NewVersion",
    "StagedUpload",
    "record_version",
    "list_versions",
    "get_version",
    "stage_upload",
    "unstage_upload",
    "drop_placeholder",
]

_VERSION_COLUMNS = (
    "id::text AS id, doc_id::text AS doc_id, version, source, acl, title, filename, mime, size_bytes, "
    "content_hash, uploaded_by, created_at"
)


@dataclass(frozen=True)
class NewVersion:
    """The original bytes behind a change (recorded with the change, in its transaction)."""

    filename: str
    data: bytes
    uploaded_by: str | None = None


@dataclass(frozen=True)
class StagedUpload:
    doc_id: str
    upload_id: str
    prior: dict[str, Any] | None  # the document row before staging (None: the row is new)


async def record_version(conn: AsyncConnection[Any], doc_id: str, new: NewVersion) -> None:
    """Snapshot the document's current state (after a change, same transaction) with its bytes."""
    await conn.execute(
        "INSERT INTO document_versions (doc_id, version, source, acl, title, filename, mime, size_bytes, "
        "  content_hash, data, uploaded_by) "
        "SELECT id, version, source, acl, title, %s, mime, %s, content_hash, %s, %s FROM documents "
        "WHERE id = %s AND content_hash IS NOT NULL",
        (new.filename, len(new.data), new.data, new.uploaded_by, doc_id),
    )
    await conn.execute("UPDATE documents SET uploaded_by = %s WHERE id = %s", (new.uploaded_by, doc_id))


async def list_versions(db: Database, doc_id: str) -> list[dict[str, Any]]:
    """A document's versions, newest first (without the bytes)."""
    rows = await db.fetch(
        f"SELECT {_VERSION_COLUMNS} FROM document_versions WHERE doc_id = %s::uuid "
        "ORDER BY created_at DESC, version DESC",
        doc_id,
    )
    for r in rows:
        r["created_at"] = r["created_at"].isoformat()
    return rows


async def get_version(db: Database, doc_id: str, version_id: str) -> dict[str, Any] | None:
    """One version of ``doc_id`` with its bytes (``data``); None when unknown or of another document."""
    try:
        return await db.fetchrow(
            f"SELECT {_VERSION_COLUMNS}, data FROM document_versions WHERE id = %s::uuid AND doc_id = %s::uuid",
            version_id,
            doc_id,
        )
    except Exception as exc:  # invalid uuid text
        if "invalid input syntax for type uuid" in str(exc):
            return None
        raise


async def stage_upload(
    db: Database,
    source: str,
    acl: str,
    *,
    digest: str,
    filename: str,
    data: bytes,
    uploaded_by: str,
    prior: dict[str, Any] | None,
) -> StagedUpload:
    """Mark the document queued (creating its row) and store the bytes, in one transaction."""
    async with db.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "INSERT INTO documents (source, acl, title, pending_hash, size_bytes, status) "
            "VALUES (%s, %s, %s, %s, %s, 'queued') "
            "ON CONFLICT (source) DO UPDATE SET pending_hash = EXCLUDED.pending_hash, "
            "  size_bytes = EXCLUDED.size_bytes, status = 'queued', error_code = NULL, error = NULL, "
            "  updated_at = now() "
            "RETURNING id::text AS id",
            (source, acl, source.rsplit("/", 1)[-1], digest, len(data)),
        )
        doc = await cur.fetchone()
        cur = await conn.execute(
            "INSERT INTO uploads (filename, data, uploaded_by, content_hash) VALUES (%s, %s, %s, %s) "
            "RETURNING id::text AS id",
            (filename, data, uploaded_by, digest),
        )
        up = await cur.fetchone()
    assert doc is not None and up is not None
    return StagedUpload(str(doc["id"]), str(up["id"]), prior)  # type: ignore[call-overload]


async def unstage_upload(db: Database, staged: StagedUpload) -> None:
    """Undo :func:`stage_upload` (the job was not accepted): drop the bytes, restore the row."""
    async with db.pool.connection() as conn, conn.transaction():
        await conn.execute("DELETE FROM uploads WHERE id = %s", (staged.upload_id,))
        p = staged.prior
        if p is None:
            await conn.execute(
                "DELETE FROM documents WHERE id = %s AND content_hash IS NULL AND chunk_count = 0",
                (staged.doc_id,),
            )
        else:
            await conn.execute(
                "UPDATE documents SET status = %s, pending_hash = %s, size_bytes = %s, error_code = %s, "
                "error = %s, updated_at = now() WHERE id = %s",
                (p["status"], p["pending_hash"], p["size_bytes"], p["error_code"], p["error"], staged.doc_id),
            )


async def drop_placeholder(db: Database, doc_id: str) -> bool:
    """Delete a document row that was created for an upload and never indexed (e.g. a duplicate)."""
    row = await db.fetchrow(
        "DELETE FROM documents WHERE id = %s::uuid AND content_hash IS NULL AND chunk_count = 0 "
        "AND version = 0 RETURNING id",
        doc_id,
    )
    return row is not None
