"""``libromind bench ingest``: ingest a corpus into a fresh database (empty embedding cache) and report
documents, pages and chunks per second. ``libromind bench embed``: PyTorch vs ONNX (fp32 / int8)
embedding speed and cosine agreement on real corpus chunks."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

__all__ = ["register_bench", "run_ingest_bench", "run_embed_bench"]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO / "data" / "docs" / "debian-policy"


async def run_ingest_bench(corpus: Path) -> dict[str, Any]:
    from evals.bench.search import bench_settings
    from memory.settings import get_settings
    from tools.deps import Deps, use
    from tools.knowledge import ingest_paths

    settings = await bench_settings(get_settings(), "libromind_bench_ingest", fresh=True)
    deps = await Deps.build(settings)
    use(deps)
    try:
        t_model = time.perf_counter()
        deps.embedder.embed_one("warm up")  # model load is not ingestion
        model_s = time.perf_counter() - t_model
        t0 = time.perf_counter()
        summary = await ingest_paths([corpus], "public")
        seconds = time.perf_counter() - t0
    finally:
        await deps.close()
    docs = summary["indexed"]
    html_pages = sum(1 for d in summary["documents"] if d["status"] == "indexed" and not d.get("pages"))
    pages = summary["pages"] + html_pages
    return {
        "corpus": str(corpus),
        "files": summary["files"],
        "indexed": docs,
        "failed": summary["failed"],
        "pdf_pages": summary["pages"],
        "pages": pages,
        "chunks": summary["chunks"],
        "seconds": round(seconds, 2),
        "model_load_s": round(model_s, 2),
        "pages_per_s": round(pages / seconds, 2),
        "chunks_per_s": round(summary["chunks"] / seconds, 1),
        "docs_per_s": round(docs / seconds, 2),
        "under_60s": seconds < 60,
    }


def run_embed_bench(corpus: Path, n: int = 512, repeats: int = 2, queries: int = 50) -> dict[str, Any]:
    """Each embedding backend on the same corpus chunks: batch throughput, one-query latency, and
    cosine agreement with the torch reference."""
    import numpy as np

    from memory.documents.chunk import chunk
    from memory.documents.embed import BACKENDS, Embedder
    from memory.documents.parse import parse
    from memory.settings import get_settings

    texts: list[str] = []
    for f in sorted(p for p in corpus.rglob("*.html") if p.is_file()):
        doc = parse(f.read_bytes(), f.name)
        texts.extend(c.text for c in chunk(doc))
        if len(texts) >= n:
            break
    texts = texts[:n]
    short = [t.split(".")[0][:80] for t in texts[:queries]]  # question-sized inputs
    out: dict[str, Any] = {"texts": len(texts)}
    vecs: dict[str, Any] = {}
    for backend in BACKENDS:
        emb = Embedder(backend=backend, models_dir=get_settings().models_dir)
        emb.embed(texts[:16])  # load + warm up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            v = emb.embed(texts)
            best = min(best, time.perf_counter() - t0)
        lat = []
        for q in short:
            t0 = time.perf_counter()
            emb.embed_one(q)
            lat.append((time.perf_counter() - t0) * 1000)
        vecs[backend] = np.asarray(v, dtype=np.float32)
        out[backend] = {
            "seconds": round(best, 2),
            "texts_per_s": round(len(texts) / best, 1),
            "query_p50_ms": round(float(np.percentile(lat, 50)), 2),
            "query_p95_ms": round(float(np.percentile(lat, 95)), 2),
        }
    ref = vecs["torch"]
    for backend in BACKENDS[1:]:
        cos = (vecs[backend] * ref).sum(axis=1)
        out[backend].update(
            {
                "speedup": round(out["torch"]["seconds"] / out[backend]["seconds"], 2),
                "cos_mean": round(float(cos.mean()), 5),
                "cos_min": round(float(cos.min()), 5),
            }
        )
    return out


def register_bench(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        corpus: Path = typer.Option(DEFAULT_CORPUS, "--corpus", exists=True, file_okay=False),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Ingest a corpus into a fresh bench database (empty embedding cache); report pages/s, chunks/s."""
        from libromind.commands._common import console, run

        report = run(run_ingest_bench(corpus))
        if as_json:
            sys.stdout.write(json.dumps(report) + "\n")
            return
        console.print(
            f"ingested {report['indexed']}/{report['files']} files: {report['pages']} pages "
            f"({report['pdf_pages']} PDF pages), {report['chunks']} chunks in {report['seconds']:.1f} s -> "
            f"{report['pages_per_s']:.1f} pages/s, {report['chunks_per_s']:.1f} chunks/s "
            f"(goal < 60 s: {'met' if report['under_60s'] else 'NOT met'})",
            highlight=False,
        )

    @app.command("embed")
    def embed(
        corpus: Path = typer.Option(DEFAULT_CORPUS, "--corpus", exists=True, file_okay=False),
        n: int = typer.Option(512, "--n", help="Number of corpus chunks to embed."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Compare the embedding backends (torch, onnx, onnx-int8): speed, query latency, cosine agreement."""
        from libromind.commands._common import console

        report = run_embed_bench(corpus, n)
        if as_json:
            sys.stdout.write(json.dumps(report) + "\n")
            return
        from memory.documents.embed import BACKENDS

        for name in BACKENDS:
            r = report[name]
            extra = (
                f", x{r['speedup']} vs torch, cos mean {r['cos_mean']} min {r['cos_min']}"
                if "speedup" in r
                else ""
            )
            console.print(
                f"{name}: {r['texts_per_s']} chunks/s, one query p50 {r['query_p50_ms']} ms "
                f"p95 {r['query_p95_ms']} ms{extra}",
                highlight=False,
            )
