"""Ingestion + retrieval against a real embedded PostgreSQL (pgvector) and the real embedding model."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.documents import store
from memory.documents.ingest import ingest_document
from memory.principals import Principal
from tests.integration.knowledge._data import DOC_A, DOC_B, fixture_bytes
from tools import knowledge as kn
from tools.deps import Deps

CUSTOMER = Principal.parse("customer:c1")
EMPLOYEE = Principal.parse("employee:e1")
SALES = Principal.parse("employee:e2:sales")


async def chunk_ids(deps: Deps, source: str) -> list[int]:
    rows = await deps.db.fetch("SELECT c.id FROM chunks c WHERE c.source = %s ORDER BY c.id", source)
    return [int(r["id"]) for r in rows]


async def test_ingest_walk_search_replace_and_skip(deps: Deps, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "returns.md").write_text(DOC_A)
    (root / "sub" / "shipping.md").write_text(DOC_B)
    (root / ".hidden.md").write_text("# Secret\n\nhidden file text")
    (root / ".git").mkdir()
    (root / ".git" / "x.md").write_text("# git\n\nnot a doc")
    single = tmp_path / "single.txt"
    single.write_text("Gift cards never expire and can be used for any book in the shop.")

    v0 = await store.corpus_version(deps.db)
    events: list[dict] = []
    summary = await kn.ingest_paths([root, single], "public", progress=events.append)
    assert summary["files"] == 3 and summary["indexed"] == 3 and summary["failed"] == 0
    assert [e["done"] for e in events] == [1, 2, 3]
    sources = {d["source"] for d in summary["documents"]}
    assert sources == {"returns.md", "sub/shipping.md", "single.txt"}
    assert await store.corpus_version(deps.db) == v0 + 3

    hits = await kn.search_hits("how many days do I have to return a book", 3, principal=CUSTOMER)
    assert hits[0].source == "returns.md"
    assert "30 days" in hits[0].text and hits[0].section.startswith("Returns")
    results = await kn.search_documents("express delivery next day", 2, principal=CUSTOMER)
    assert results[0]["source"] == "sub/shipping.md"
    assert set(results[0]) == {"chunk_id", "doc_id", "source", "title", "section", "page", "text", "score"}

    # unchanged files are skipped (no new version)
    again = await kn.ingest_paths([root], "public")
    assert again["unchanged"] == 2 and again["indexed"] == 0
    v1 = await store.corpus_version(deps.db)
    assert again["corpus_version"] == v1

    # a changed file replaces its chunks: old ids gone, change recorded, search sees only the new text
    old_ids = await chunk_ids(deps, "returns.md")
    (root / "returns.md").write_text(DOC_A.replace("30 days", "45 days"))
    changed = await kn.ingest_paths([root], "public")
    assert changed["indexed"] == 1 and changed["unchanged"] == 1
    new_ids = await chunk_ids(deps, "returns.md")
    assert not set(old_ids) & set(new_ids)
    changes = await store.changes_since(deps.db, v1)
    assert len(changes) == 1 and changes[0]["op"] == "replace"
    assert sorted(changes[0]["deleted_chunk_ids"]) == old_ids and changes[0]["added_chunk_ids"] == new_ids
    hits = await kn.search_hits("how many days do I have to return a book", 5, principal=CUSTOMER)
    texts = " ".join(h.text for h in hits)
    assert "45 days" in texts and "30 days" not in texts
    doc = await kn.document_status(hits[0].doc_id)
    assert doc["status"] == "indexed" and doc["version"] == 2


async def test_embedding_cache_reuses_vectors(deps: Deps) -> None:
    data = DOC_B.encode()
    a = await ingest_document(deps.db, deps.embedder, deps.settings, data, "a.md", source="a.md")
    n = (await deps.db.fetchrow("SELECT count(*) AS n FROM embedding_cache"))["n"]  # type: ignore[index]
    assert a.status == "indexed" and n >= a.chunks
    # same bytes under another source: a duplicate (dedup by content hash), nothing embedded
    dup = await ingest_document(deps.db, deps.embedder, deps.settings, data, "b.md", source="b.md")
    assert dup.status == "duplicate" and dup.duplicate_of == "a.md"
    # same text in another ACL: indexed, but every vector comes from the cache
    other = await ingest_document(
        deps.db, deps.embedder, deps.settings, data, "c.md", source="c.md", acl="internal"
    )
    assert other.status == "indexed"
    assert (await deps.db.fetchrow("SELECT count(*) AS n FROM embedding_cache"))["n"] == n  # type: ignore[index]
    # ACL-only change on an unchanged file: no re-embedding, chunks keep ids
    ids = await chunk_ids(deps, "a.md")
    changed = await ingest_document(
        deps.db, deps.embedder, deps.settings, data, "a.md", source="a.md", acl="internal"
    )
    assert changed.status == "acl_changed" and await chunk_ids(deps, "a.md") == ids


async def test_acl_is_a_prefilter_not_a_post_filter(deps: Deps) -> None:
    # many internal chunks match the query better than the single public one
    for i in range(12):
        text = (
            f"# Refund policy {i}\n\nInternal refund policy note {i}: refunds over 50 euros need a manager."
        )
        out = await ingest_document(
            deps.db,
            deps.embedder,
            deps.settings,
            text.encode(),
            f"int{i}.md",
            source=f"internal/{i}.md",
            acl="internal",
        )
        assert out.status == "indexed"
    await ingest_document(
        deps.db,
        deps.embedder,
        deps.settings,
        b"# Sales targets\n\nThe refund policy quota for the sales group is secret.",
        "sales.md",
        source="sales.md",
        acl="group:sales",
    )
    await ingest_document(
        deps.db,
        deps.embedder,
        deps.settings,
        b"# Help\n\nAsk our staff about refunds for books bought in a shop.",
        "help.md",
        source="help.md",
        acl="public",
    )
    index = kn.get_index(deps)
    vec = (await kn.embed_query(["refund policy"]))[0]
    for k in (1, 3):
        dense = await index.dense(vec, k, CUSTOMER.scopes)
        kw = await index.keyword("refund policy", k, CUSTOMER.scopes)
        assert [h.source for h in dense] == ["help.md"]
        assert [h.source for h in kw] == ["help.md"]
        fts = await index.fts("refund policy", k, CUSTOMER.scopes)  # type: ignore[attr-defined]
        assert [h.source for h in fts] == ["help.md"]
    hits = await kn.search_hits("refund policy", 20, principal=CUSTOMER)
    assert {h.acl for h in hits} == {"public"}
    staff = await kn.search_hits("refund policy", 20, principal=EMPLOYEE)
    assert {h.acl for h in staff} == {"public", "internal"}
    sales = await kn.search_hits("sales quota", 20, principal=SALES)
    assert "sales.md" in {h.source for h in sales}


BAD_INPUTS = [
    ("empty.txt", "empty.txt", "empty"),
    ("empty.pdf", "report.pdf", "empty"),
    ("encrypted.pdf", "locked.pdf", "encrypted_pdf"),
    ("truncated.pdf", "cut.pdf", "corrupt_pdf"),
    ("scanned.pdf", "scan.pdf", "no_text_layer"),
    ("binary-named.txt", "notes.txt", "type_mismatch"),
    ("invalid-utf8.txt", "legacy.txt", "invalid_encoding"),
    ("scripts-only.html", "app.html", "no_content"),
]


@pytest.mark.parametrize(("fixture", "filename", "code"), BAD_INPUTS)
async def test_bad_input_fails_cleanly(deps: Deps, fixture: str, filename: str, code: str) -> None:
    out = await ingest_document(deps.db, deps.embedder, deps.settings, fixture_bytes(fixture), filename)
    assert out.status == "failed" and out.error_code == code and out.error
    doc = await kn.document_status(out.doc_id)  # type: ignore[arg-type]
    assert doc["status"] == "failed" and doc["error_code"] == code and doc["error"]
    assert await chunk_ids(deps, filename) == []
    # the pipeline survives: the next document ingests fine
    ok = await ingest_document(deps.db, deps.embedder, deps.settings, DOC_B.encode(), "ok.md")
    assert ok.status == "indexed"


async def test_docx_zip_bomb_is_refused(deps: Deps, builders, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bomb = builders.docx_bomb(tmp_path / "bomb.docx").read_bytes()
    assert len(bomb) < deps.settings.max_uncompressed_bytes
    out = await ingest_document(deps.db, deps.embedder, deps.settings, bomb, "bomb.docx")
    assert out.status == "failed" and out.error_code == "zip_bomb"
    assert await chunk_ids(deps, "bomb.docx") == []


async def test_oversized_file_is_refused(deps: Deps) -> None:
    settings = deps.settings.model_copy(update={"max_upload_bytes": 1024})
    out = await ingest_document(deps.db, deps.embedder, settings, b"word " * 1000, "big.txt")
    assert out.status == "failed" and out.error_code == "too_large"


async def test_failed_reingest_keeps_the_indexed_version(deps: Deps, tmp_path: Path) -> None:
    good = await ingest_document(deps.db, deps.embedder, deps.settings, DOC_A.encode(), "r.md", source="r.md")
    ids = await chunk_ids(deps, "r.md")
    bad = await ingest_document(
        deps.db, deps.embedder, deps.settings, b"\xff\xfe\x00bad", "r.md", source="r.md"
    )
    assert bad.status == "failed" and bad.doc_id == good.doc_id
    assert await chunk_ids(deps, "r.md") == ids  # still searchable: never "neither version"
    doc = await kn.document_status(good.doc_id)  # type: ignore[arg-type]
    assert doc["status"] == "failed" and doc["error"]
    # re-sending the indexed bytes restores the status without re-indexing
    again = await ingest_document(
        deps.db, deps.embedder, deps.settings, DOC_A.encode(), "r.md", source="r.md"
    )
    assert again.status == "unchanged"
    assert (await kn.document_status(good.doc_id))["status"] == "indexed"  # type: ignore[arg-type]


async def test_batch_with_bad_files_continues(deps: Deps, tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "good.md").write_text(DOC_A)
    (root / "empty.txt").write_bytes(b"")
    (root / "cut.pdf").write_bytes(fixture_bytes("truncated.pdf"))
    (root / "archive.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    summary = await kn.ingest_paths([root])
    by = {d["source"]: d for d in summary["documents"]}
    assert by["good.md"]["status"] == "indexed"
    assert by["empty.txt"]["error_code"] == "empty"
    assert by["cut.pdf"]["error_code"] == "corrupt_pdf"
    assert by["archive.zip"]["status"] == "failed"
    assert summary["failed"] == 3 and summary["indexed"] == 1


async def test_bm25_snapshot_follows_corpus_version(deps: Deps) -> None:
    index = kn.get_index(deps)
    assert await index.keyword("zebra", 5, CUSTOMER.scopes) == []
    out = await ingest_document(
        deps.db, deps.embedder, deps.settings, b"# Zoo\n\nA zebra book for children.", "zoo.md"
    )
    hits = await index.keyword("zebra", 5, CUSTOMER.scopes)
    assert [h.doc_id for h in hits] == [out.doc_id]
    await store.delete_document(deps.db, out.doc_id)  # type: ignore[arg-type]
    assert await index.keyword("zebra", 5, CUSTOMER.scopes) == []
