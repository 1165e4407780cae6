"""``libromind bench catalog``: catalog search latency (p50/p95) over the whole demo catalog.

Queries are drawn deterministically (seeded) from the catalog itself: title beginnings, whole titles,
titles with a typo, author names, common single words and filter-only browses. Each query runs once
through the catalog search behind ``tools.catalog.search_books`` (trigram + semantic, as the tools call it),
sequentially after a warm-up. Goal: p95 under 30 ms.

Quality is reported next to latency (``quality``): for each kind, the share of queries whose first page
(10 results) holds the book the query was drawn from (same title, or same author for author queries),
and for common words the share of results containing the word. A faster search must not lower these.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import typer

__all__ = ["register_bench", "run_bench", "make_queries"]

GOAL_P95_MS = 30.0
_DATA = Path(__file__).resolve().parents[2] / "data"
COMMON_WORDS = [
    "love",
    "history",
    "murder",
    "garden",
    "christmas",
    "war",
    "cooking",
    "secret",
    "death",
    "life",
    "night",
    "house",
    "world",
    "magic",
    "dragon",
    "guide",
    "american",
    "dark",
    "mystery",
    "heart",
]


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 6:
        return text
    i = rng.randrange(1, len(text) - 2)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == "drop":
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


async def make_queries(db: Any, n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pool = await db.fetch(
        "SELECT isbn13, title, author FROM books ORDER BY md5(isbn13 || %s) LIMIT %s", str(seed), max(n, 50)
    )
    hot = await db.fetch(
        "SELECT isbn13, title, author FROM book_search_hot ORDER BY md5(isbn13 || %s) LIMIT %s",
        str(seed),
        max(n, 50),
    )
    hot = hot or pool
    out: list[dict[str, Any]] = []
    for i in range(n):
        r = rng.random()
        src = hot[i % len(hot)] if rng.random() < 0.5 else pool[i % len(pool)]
        words = src["title"].split("(")[0].split()
        n0 = len(out)
        if r < 0.30:
            out.append(
                {"kind": "title_prefix", "query": " ".join(words[: rng.randint(2, 4)]) or src["title"]}
            )
        elif r < 0.45:
            out.append({"kind": "title", "query": src["title"]})
        elif r < 0.60:
            out.append({"kind": "typo", "query": _typo(" ".join(words[:4]) or src["title"], rng)})
        elif r < 0.75:
            out.append({"kind": "author", "query": src["author"] or src["title"]})
        elif r < 0.90:
            out.append({"kind": "word", "query": rng.choice(COMMON_WORDS)})
        else:
            lo = rng.randrange(500, 2500, 100)
            out.append(
                {
                    "kind": "browse",
                    "query": None,
                    "price_min_cents": lo,
                    "price_max_cents": lo + 500,
                    "in_stock": True,
                    "sort": rng.choice(("price", "relevance")),
                }
            )
        if out[n0]["kind"] != "browse":
            out[n0]["expect"] = {"isbn13": src["isbn13"], "title": src["title"], "author": src["author"]}
    return out


_PARAMS = ("kind", "query", "expect")


def _hit(q: dict[str, Any], results: list[dict[str, Any]]) -> bool | None:
    """Whether the first page holds what the query was drawn from (None: not judged)."""
    exp = q.get("expect")
    if not exp:
        return None
    if q["kind"] == "word":
        word = str(q["query"]).lower()
        return bool(results) and all(word in (b["title"] + " " + b["author"]).lower() for b in results)
    if q["kind"] == "author" and exp["author"]:
        return any(b["author"].lower() == exp["author"].lower() for b in results)
    return any(b["isbn"] == exp["isbn13"] or b["title"].lower() == exp["title"].lower() for b in results)


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    if not s:
        return 0.0
    k = (len(s) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


async def run_bench(
    n: int = 300,
    *,
    data_dir: Path | None = None,
    load_demo: bool = True,
    seed: int = 7,
    semantic: bool = True,
    repeat: int = 1,
) -> dict[str, Any]:
    """Latency percentiles of ``n`` seeded queries; with ``repeat`` > 1 the same queries run again and
    percentiles pool every run (a steadier figure on a loaded machine), ``runs_p95_ms`` listing each."""
    from libromind.commands._common import open_deps
    from memory.commerce.catalog import search_books as _search
    from memory.commerce.catalog.search import clear_query_cache
    from memory.commerce.demo import load_demo_catalog

    async with open_deps() as deps:
        if load_demo:
            root = data_dir or _DATA
            await load_demo_catalog(deps.db, deps.embedder, root)
        counts = await deps.db.fetchrow(
            "SELECT (SELECT count(*) FROM books) AS books, (SELECT count(*) FROM book_embeddings) AS embedded"
        )
        queries = await make_queries(deps.db, n, seed)
        await asyncio.to_thread(deps.embedder.embed_one, "warm up")
        embedder = deps.embedder if semantic else None

        async def search_books(query: str | None, **kw: Any) -> dict[str, Any]:
            return await _search(deps.db, embedder, query, **kw)

        for q in queries[:10]:  # warm-up (buffer pages)
            await search_books(q["query"], **{k: v for k, v in q.items() if k not in _PARAMS})
        lat: list[float] = []
        runs_p95: list[float] = []
        by_kind: dict[str, list[float]] = {}
        judged: dict[str, list[bool]] = {}
        hits = 0
        for run in range(max(repeat, 1)):
            if run:
                clear_query_cache()  # a repeated run embeds its queries afresh, as the first one did
            run_lat: list[float] = []
            for q in queries:
                kw = {k: v for k, v in q.items() if k not in _PARAMS}
                t = time.perf_counter()
                res = await search_books(q["query"], **kw)
                ms = (time.perf_counter() - t) * 1000
                run_lat.append(ms)
                by_kind.setdefault(q["kind"], []).append(ms)
                if run == 0:
                    hits += bool(res["results"])
                    ok = _hit(q, res["results"])
                    if ok is not None:
                        judged.setdefault(q["kind"], []).append(ok)
            lat += run_lat
            runs_p95.append(round(_pct(run_lat, 0.95), 2))
        backend = getattr(deps.embedder, "backend", None)
    p95 = _pct(lat, 0.95)
    return {
        "bench": "catalog_search",
        "semantic": semantic,
        "embed_backend": backend if semantic else None,
        "books": int(counts["books"]) if counts else 0,
        "embedded": int(counts["embedded"]) if counts else 0,
        "queries": len(queries),
        "repeat": max(repeat, 1),
        "with_results": hits,
        "p50_ms": round(_pct(lat, 0.50), 2),
        "p95_ms": round(p95, 2),
        "p99_ms": round(_pct(lat, 0.99), 2),
        "mean_ms": round(sum(lat) / max(len(lat), 1), 2),
        "max_ms": round(max(lat, default=0.0), 2),
        "runs_p95_ms": runs_p95,
        "by_kind_p50_ms": {k: round(_pct(v, 0.50), 2) for k, v in sorted(by_kind.items())},
        "by_kind_p95_ms": {k: round(_pct(v, 0.95), 2) for k, v in sorted(by_kind.items())},
        "quality": {k: round(sum(v) / len(v), 3) for k, v in sorted(judged.items())},
        "goal_p95_ms": GOAL_P95_MS,
        "goal_met": p95 < GOAL_P95_MS,
    }


def register_bench(app: typer.Typer) -> None:
    @app.command("catalog")
    def catalog_bench(
        n: int = typer.Option(300, "--n", help="Number of queries."),
        seed: int = typer.Option(7, "--seed"),
        data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder with books/BX-Books.csv.gz."),
        load_demo: bool = typer.Option(
            True, "--load-demo/--no-load-demo", help="Load the demo catalog first when it is not loaded."
        ),
        semantic: bool = typer.Option(True, "--semantic/--no-semantic", help="Include query embedding."),
        repeat: int = typer.Option(
            1, "--repeat", help="Run the queries this many times; pooled percentiles."
        ),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Catalog search latency p50/p95 over the whole catalog (goal: p95 < 30 ms)."""
        from libromind.commands._common import console, run

        out = run(
            run_bench(n, data_dir=data_dir, load_demo=load_demo, seed=seed, semantic=semantic, repeat=repeat)
        )
        if as_json:
            print(json.dumps(out))
            return
        console.print(
            f"catalog search over {out['books']:,} books ({out['embedded']:,} embedded), {out['queries']} queries"
            f"{' x ' + str(out['repeat']) if out['repeat'] > 1 else ''}: "
            f"p50 {out['p50_ms']} ms, p95 {out['p95_ms']} ms, p99 {out['p99_ms']} ms "
            f"(goal p95 < {GOAL_P95_MS:g} ms: {'met' if out['goal_met'] else 'NOT met'})"
        )
        if out["repeat"] > 1:
            console.print(f"p95 of each run: {out['runs_p95_ms']}")
        console.print(f"p50 by kind: {out['by_kind_p50_ms']}")
        console.print(f"p95 by kind: {out['by_kind_p95_ms']}")
        console.print(
            f"quality (first page holds the source book / author; words: all results match): {out['quality']}"
        )
