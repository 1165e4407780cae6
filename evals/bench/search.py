"""``libromind bench search --chunks 100000``: search latency at scale on the configured PostgreSQL.

A separate database (``libromind_bench_search``) gets the real corpus chunks (copied with their
vectors from the configured database, ingesting the corpus there first if needed) plus synthetic
chunks up to ``--chunks``: each mixes sentences of two real chunks and has the vector
``normalise(v_a + 0.3 v_b + noise)``, 10 % of them ``internal`` so the ACL filter is exercised.
Queries are the evaluation questions. Reported per stage: p50/p95 of query embedding, dense (HNSW,
for each ef_search with its recall@10 against exact search), BM25 (bm25s with ACL mask) and the full
hybrid search (embedding + dense + BM25 + fusion + fetch; no LLM, no rerank).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import typer
from pydantic import SecretStr

from memory.db import start_embedded
from memory.settings import Settings

__all__ = ["register_bench", "run_search_bench", "bench_settings"]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO / "data" / "docs" / "debian-policy"
DEFAULT_QUERIES = REPO / "evals" / "datasets" / "policy_qa.jsonl"
BENCH_DB = "libromind_bench_search"


def _with_db(url: str, name: str) -> str:
    base, sep, query = url.partition("?")
    head = base.rsplit("/", 1)[0]
    return f"{head}/{name}" + (f"?{query}" if sep else "")


async def bench_settings(settings: Settings, name: str, *, fresh: bool) -> Settings:
    """Settings pointing at database ``name`` on the configured server (created, or recreated if fresh)."""
    if not re.match(r"^[a-z_][a-z0-9_]*$", name):
        raise ValueError(f"bad database name {name!r}")
    if settings.database_url is not None:
        server = settings.database_url.get_secret_value()
    else:
        from memory.home import ensure_home

        ensure_home(settings.home)
        server = await asyncio.to_thread(start_embedded, settings.pg_dir)

    def _create() -> None:
        with psycopg.connect(server, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and fresh:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                exists = None
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    await asyncio.to_thread(_create)
    return settings.model_copy(update={"database_url": SecretStr(_with_db(server, name))})


_SENT = re.compile(r"(?<=[.!?])\s+")


async def _real_chunks(corpus: Path) -> list[dict[str, Any]]:
    """The corpus chunks with vectors, from the configured database (ingesting the corpus if needed)."""
    from libromind.commands._common import open_deps
    from memory.documents.store import as_array
    from tools.knowledge import ingest_paths

    async with open_deps() as deps:
        await ingest_paths([corpus])
        rows = await deps.db.fetch(
            "SELECT c.source, c.title, c.section, c.section_path, c.page, c.token_count, c.text, "
            "c.text_hash, c.embedding FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.acl = 'public' ORDER BY c.id"
        )
    for r in rows:
        r["embedding"] = as_array(r["embedding"])
    return rows


async def _populate(settings: Settings, real: list[dict[str, Any]], n_chunks: int, seed: int = 7) -> float:
    from memory.db import Database

    rng = np.random.default_rng(seed)
    db = await Database.connect(settings)
    t0 = time.perf_counter()
    try:
        async with db.pool.connection() as conn:
            await conn.execute("TRUNCATE documents, chunks, corpus_changes CASCADE")
            await conn.execute("DROP INDEX IF EXISTS chunks_embedding_hnsw")
            docs: dict[str, uuid.UUID] = {}

            def doc_for(source: str) -> uuid.UUID:
                if source not in docs:
                    docs[source] = uuid.uuid4()
                return docs[source]

            rows: list[list[Any]] = []
            for r in real:
                rows.append(
                    [
                        doc_for(r["source"]),
                        r["source"],
                        r["title"],
                        "public",
                        r["section"],
                        r["section_path"],
                        r["page"],
                        r["token_count"],
                        r["text"],
                        r["text_hash"],
                        r["embedding"],
                    ]
                )
            vecs = np.stack([r["embedding"] for r in real])
            for i in range(max(0, n_chunks - len(real))):
                a, b = rng.integers(0, len(real), size=2)
                sa, sb = _SENT.split(real[a]["text"]), _SENT.split(real[b]["text"])
                text = " ".join(sa[: max(1, len(sa) * 2 // 3)] + sb[: max(1, len(sb) // 3)])
                v = vecs[a] + 0.3 * vecs[b] + rng.normal(0, 0.02, size=vecs.shape[1]).astype(np.float32)  # type: ignore[attr-defined]
                v = (v / np.linalg.norm(v)).astype(np.float32)
                source = f"synthetic/doc-{i // 100:05d}.txt"
                acl = "internal" if i % 10 == 9 else "public"
                rows.append(
                    [
                        doc_for(source),
                        source,
                        f"Synthetic {i // 100}",
                        acl,
                        real[a]["section"],
                        real[a]["section_path"],
                        None,
                        real[a]["token_count"],
                        text,
                        f"syn{i}",
                        v,
                    ]
                )
            async with conn.transaction():
                async with conn.cursor().copy(
                    "COPY documents (id, source, status) FROM STDIN WITH (FORMAT BINARY)"
                ) as cp:
                    cp.set_types(["uuid", "text", "text"])
                    for source, did in docs.items():
                        await cp.write_row([did, source, "indexed"])
                async with conn.cursor().copy(
                    "COPY chunks (doc_id, ord, source, title, acl, section, section_path, page, token_count, "
                    "text, "
                    "text_hash, embedding) FROM STDIN WITH (FORMAT BINARY)"
                ) as cp:
                    cp.set_types(
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
                    for i, r in enumerate(rows):  # type: ignore[assignment]
                        await cp.write_row([r[0], i, *r[1:]])  # type: ignore[index]
                await conn.execute(
                    "UPDATE meta SET value = to_jsonb((value #>> '{}')::bigint + 1) "
                    "WHERE key = 'corpus_version'"
                )
            await conn.execute("SET maintenance_work_mem = '1GB'")
            await conn.execute(
                "CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = 16, ef_construction = 64)"
            )
            await conn.execute("ANALYZE chunks")
    finally:
        await db.close()
    return time.perf_counter() - t0


def _pcts(xs: list[float]) -> dict[str, float]:
    from evals.metrics import percentile

    return {"p50_ms": round(percentile(xs, 50), 2), "p95_ms": round(percentile(xs, 95), 2)}


async def run_search_bench(
    n_chunks: int,
    corpus: Path,
    queries_file: Path,
    n_queries: int,
    ef_values: list[int],
    rebuild: bool = False,
) -> dict[str, Any]:
    from memory.documents.store import as_array
    from memory.index.pgvector import PgVectorIndex
    from memory.principals import Principal
    from memory.settings import get_settings
    from tools.deps import Deps, use
    from tools.knowledge import RetrievalOptions, get_index, search_hits

    base = get_settings()
    settings = await bench_settings(base, BENCH_DB, fresh=False)
    setup: dict[str, Any] = {}
    deps = await Deps.build(settings)
    use(deps)
    try:
        have = int((await deps.db.fetchrow("SELECT count(*) AS n FROM chunks"))["n"])  # type: ignore[index]
        if rebuild or have != n_chunks:
            await deps.close()
            real = await _real_chunks(corpus)
            setup["populate_s"] = round(await _populate(settings, real, n_chunks), 1)
            deps = await Deps.build(settings)
            use(deps)
        lines = (await asyncio.to_thread(queries_file.read_text)).splitlines()
        questions = [json.loads(line)["question"] for line in lines if line.strip()]
        questions = (questions * (n_queries // max(1, len(questions)) + 1))[:n_queries]
        principal = Principal.parse("customer:bench")
        index = get_index(deps)
        assert isinstance(index, PgVectorIndex)
        t0 = time.perf_counter()
        await index.bm25.refresh()
        setup["bm25_ready_s"] = round(time.perf_counter() - t0, 1)
        setup["chunks"] = int((await deps.db.fetchrow("SELECT count(*) AS n FROM chunks"))["n"])  # type: ignore[index]
        deps.embedder.embed_one("warm up")

        # exact neighbours for recall of the HNSW index (brute force over the allowed vectors)
        rows = await deps.db.fetch("SELECT id, embedding FROM chunks WHERE acl = 'public' ORDER BY id")
        ids = np.asarray([r["id"] for r in rows])
        mat = np.stack([as_array(r["embedding"]) for r in rows])
        del rows
        qv = deps.embedder.embed(questions)
        exact = [set(ids[np.argsort(-(mat @ q))[:10]].tolist()) for q in qv]
        del mat

        report: dict[str, Any] = {"setup": setup, "queries": len(questions)}
        emb_t: list[float] = []
        for q in questions:
            t = time.perf_counter()
            deps.embedder.embed([q])
            emb_t.append((time.perf_counter() - t) * 1000)
        report["query_embedding"] = _pcts(emb_t)
        dense: dict[str, Any] = {}
        for ef in ef_values:
            index.ef_search = ef
            lat, rec = [], []
            for q, v, ex in zip(questions, qv, exact, strict=True):
                t = time.perf_counter()
                hits = await index.dense(v, 10, principal.scopes)
                lat.append((time.perf_counter() - t) * 1000)
                rec.append(len({int(h.chunk_id) for h in hits} & ex) / 10)
                del q
            dense[str(ef)] = {**_pcts(lat), "recall@10_vs_exact": round(float(np.mean(rec)), 4)}
        report["dense_by_ef_search"] = dense
        best_ef = min(
            (ef for ef in ef_values if dense[str(ef)]["recall@10_vs_exact"] >= 0.95), default=max(ef_values)
        )
        index.ef_search = best_ef
        bm = []
        for q in questions:
            t = time.perf_counter()
            await index.keyword(q, 50, principal.scopes)
            bm.append((time.perf_counter() - t) * 1000)
        report["bm25_top50"] = _pcts(bm)
        opts = RetrievalOptions(candidates=50)
        total = []
        for q in questions:
            t = time.perf_counter()
            await search_hits(q, 10, principal=principal, rerank=False, options=opts)
            total.append((time.perf_counter() - t) * 1000)
        report["hybrid_search"] = {**_pcts(total), "ef_search": best_ef}
        report["goal_p95_under_50ms"] = report["hybrid_search"]["p95_ms"] < 50
        return report
    finally:
        await deps.close()


def register_bench(app: typer.Typer) -> None:
    @app.command("search")
    def search(
        chunks: int = typer.Option(100_000, "--chunks", min=1),
        queries: int = typer.Option(200, "--queries"),
        ef_search: str = typer.Option(
            "20,40,64,100", "--ef-search", help="HNSW ef_search values to compare."
        ),
        corpus: Path = typer.Option(DEFAULT_CORPUS, "--corpus", exists=True, file_okay=False),
        queries_file: Path = typer.Option(DEFAULT_QUERIES, "--queries-file", exists=True, dir_okay=False),
        rebuild: bool = typer.Option(False, "--rebuild", help="Recreate the synthetic chunks."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Search latency (p50/p95) at N chunks: embedding, dense per ef_search (+recall), BM25, hybrid."""
        from libromind.commands._common import console, run

        efs = [int(x) for x in ef_search.split(",") if x.strip()]
        report = run(run_search_bench(chunks, corpus, queries_file, queries, efs, rebuild))
        if as_json:
            sys.stdout.write(json.dumps(report) + "\n")
            return
        console.print_json(json.dumps(report))
