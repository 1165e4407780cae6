"""``libromind eval retrieval``: recall@5/10, MRR@10, nDCG@10 and latency for each retrieval stage.

One run, one table: BM25 only, PostgreSQL full text only, dense only, hybrid (score fusion, the default, and RRF),
hybrid with expansion / HyDE, and the same with rerank. Relevance per DESIGN.md (source equal and
whitespace-collapsed evidence contained). The corpus is ingested into the configured database first
(unchanged files are skipped).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer

from evals.metrics import percentile, score_query

__all__ = ["register_eval", "run_retrieval_eval", "CONFIGS", "load_dataset"]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO / "evals" / "datasets" / "policy_qa.jsonl"
DEFAULT_CORPUS = REPO / "data" / "docs" / "debian-policy"
Search = Callable[[str, int], Awaitable[list[Any]]]

CONFIGS = [
    "bm25",
    "fts",
    "dense",
    "hybrid-rrf",
    "hybrid-rrf+rerank",
    "hybrid",
    "hybrid+expansion",
    "hybrid+hyde",
    "hybrid+rerank",
    "hybrid+rerank+expansion",
    "hybrid+rerank+hyde",
]


def load_dataset(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _searchers(principal: Any) -> dict[str, Search]:
    from tools import knowledge as kn

    rrf_opts = kn.RetrievalOptions(fusion="rrf")

    async def fts(q: str, k: int) -> list[Any]:
        index = kn.get_index()
        return await index.fts(q, k, principal.scopes)  # type: ignore[attr-defined]

    def pipe(**kw: Any) -> Search:
        async def run(q: str, k: int) -> list[Any]:
            return await kn.search_hits(q, k, principal=principal, **kw)

        return run

    return {
        "bm25": lambda q, k: kn.keyword_search(q, k, principal=principal),
        "fts": fts,
        "dense": lambda q, k: kn.dense_search(q, k, principal=principal),
        "hybrid": pipe(rerank=False),
        "hybrid-rrf": pipe(rerank=False, options=rrf_opts),
        "hybrid-rrf+rerank": pipe(rerank=True, options=rrf_opts),
        "hybrid+expansion": pipe(rerank=False, expand=True),
        "hybrid+hyde": pipe(rerank=False, use_hyde=True),
        "hybrid+rerank": pipe(rerank=True),
        "hybrid+rerank+expansion": pipe(rerank=True, expand=True),
        "hybrid+rerank+hyde": pipe(rerank=True, use_hyde=True),
    }


async def run_retrieval_eval(
    dataset: Path,
    corpus: Path | None,
    configs: list[str],
    k: int = 10,
    limit: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    from libromind.commands._common import open_deps
    from memory.principals import Principal
    from tools.knowledge import get_index, ingest_paths

    rows = load_dataset(dataset)[: limit or None]
    principal = Principal.parse("customer:eval")
    async with open_deps() as deps:
        ingest = await ingest_paths([corpus]) if corpus else None
        index = get_index(deps)
        refresh = getattr(index, "refresh", None)
        if refresh is not None:
            await refresh()
        deps.embedder.embed_one("warm up")
        warm_s = None
        if any("rerank" in c for c in configs):
            from tools.rerank import warm_rerank

            t0 = time.perf_counter()
            await warm_rerank()
            warm_s = round(time.perf_counter() - t0, 1)
        searchers = _searchers(principal)
        table: dict[str, Any] = {}
        for name in configs:
            fn = searchers[name]
            per: list[dict[str, float]] = []
            lat: list[float] = []
            for i, row in enumerate(rows):
                t0 = time.perf_counter()
                hits = await fn(row["question"], k)
                lat.append((time.perf_counter() - t0) * 1000)
                per.append(score_query([h.to_result() for h in hits], row["gold"]))
                if progress:
                    progress(name, i + 1, len(rows))
            n = len(per) or 1
            table[name] = {m: round(sum(p[m] for p in per) / n, 4) for m in per[0]} if per else {}
            table[name].update(
                {"p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1)}
            )
            by_kind: dict[str, list[float]] = {}
            for row, p in zip(rows, per, strict=True):
                by_kind.setdefault(row.get("kind", "?"), []).append(p["ndcg@10"])
            table[name]["ndcg@10_by_kind"] = {
                kd: round(sum(v) / len(v), 4) for kd, v in sorted(by_kind.items())
            }
        return {
            "dataset": str(dataset),
            "questions": len(rows),
            "k": k,
            "corpus_ingest": {kk: v for kk, v in (ingest or {}).items() if kk != "documents"},
            "rerank_warmup_s": warm_s,
            "results": table,
        }


def _print(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Retrieval on {Path(report['dataset']).name} ({report['questions']} questions)")
    for col in ("config", "recall@5", "recall@10", "MRR@10", "nDCG@10", "p50 ms", "p95 ms"):
        t.add_column(col, justify="left" if col == "config" else "right")
    for name, r in report["results"].items():
        t.add_row(
            name,
            f"{r['recall@5']:.3f}",
            f"{r['recall@10']:.3f}",
            f"{r['mrr@10']:.3f}",
            f"{r['ndcg@10']:.3f}",
            f"{r['p50_ms']:.0f}",
            f"{r['p95_ms']:.0f}",
        )
    Console().print(t)


def register_eval(app: typer.Typer) -> None:
    @app.command("retrieval")
    def retrieval(
        dataset: Path = typer.Option(DEFAULT_DATASET, "--dataset", exists=True, dir_okay=False),
        corpus: Path = typer.Option(
            DEFAULT_CORPUS, "--corpus", help="Ingested first (unchanged files skipped)."
        ),
        configs: str = typer.Option(",".join(CONFIGS), "--configs", help="Comma-separated subset."),
        k: int = typer.Option(10, "--k"),
        limit: int = typer.Option(0, "--limit", help="Only the first N questions (0 = all)."),
        as_json: bool = typer.Option(False, "--json"),
        out: Path = typer.Option(None, "--out", help="Also write the JSON report here."),
    ) -> None:
        """Measure retrieval quality and latency per stage (BM25, dense, hybrid, rerank, expansion, HyDE)."""
        from rich.progress import Progress

        from libromind.commands._common import err_console, fail, run

        names = [c.strip() for c in configs.split(",") if c.strip()]
        bad = [c for c in names if c not in CONFIGS]
        if bad:
            raise fail(f"unknown config(s) {', '.join(bad)}; choose from {', '.join(CONFIGS)}")
        with Progress(console=err_console, transient=True) as bar:
            tasks: dict[str, Any] = {}

            def progress(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total)
                bar.update(tasks[name], completed=done)

            report = run(run_retrieval_eval(dataset, corpus, names, k, limit or None, progress))
        if out:
            out.write_text(json.dumps(report, indent=2))
        if as_json:
            sys.stdout.write(json.dumps(report) + "\n")
        else:
            _print(report)
