"""``libromind search``: hybrid retrieval over the ingested documents (DESIGN.md contract)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from libromind.commands._common import console, fail, open_deps, parse_principal, run
from tools.errors import ToolError

__all__ = ["register"]


def _print_results(query: str, results: list[dict[str, Any]], ms: float) -> None:
    console.print(f"[bold]{len(results)} results[/] for [italic]{query}[/] ({ms:.0f} ms)", highlight=False)
    for i, r in enumerate(results, 1):
        where = r["source"] + (f" p.{r['page']}" if r["page"] else "")
        section = f" — {r['section']}" if r["section"] else ""
        console.print(
            f"\n[bold cyan]{i}.[/] [green]{where}[/]{section}  [dim]score {r['score']:.4f} "
            f"chunk {r['chunk_id']}[/]",
            highlight=False,
        )
        text = " ".join(r["text"].split())
        console.print(text[:400] + ("…" if len(text) > 400 else ""), highlight=False, soft_wrap=True)


async def _search(
    query: str | None,
    batch: Path | None,
    k: int,
    principal_s: str | None,
    as_json: bool,
    mode: str,
    rerank: bool,
    expand: bool,
    hyde: bool,
) -> None:
    from tools.knowledge import RetrievalOptions, get_index, search_documents

    principal = parse_principal(principal_s)
    async with open_deps() as deps:
        opts = RetrievalOptions.from_env()
        opts = RetrievalOptions(**{**opts.__dict__, "mode": mode})
        index = get_index(deps)
        refresh = getattr(index, "refresh", None)
        if refresh is not None:
            await refresh()
        deps.embedder.embed_one("warm up")

        async def one(q: str) -> tuple[list[dict[str, Any]], float]:
            t0 = time.perf_counter()
            res = await search_documents(
                q, k, principal=principal, rerank=rerank, expand=expand, use_hyde=hyde, options=opts
            )
            return res, (time.perf_counter() - t0) * 1000

        if batch is None:
            assert query is not None
            results, ms = await one(query)
            if as_json:
                sys.stdout.write(
                    json.dumps(
                        {"query": query, "results": results, "latency_ms": round(ms, 2)}, ensure_ascii=False
                    )
                    + "\n"
                )
            else:
                _print_results(query, results, ms)
            return
        with batch.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    qid, q = item["id"], item["query"]
                except (ValueError, KeyError, TypeError):
                    raise fail(
                        f'{batch}:{n}: each line must be a JSON object with "id" and "query"'
                    ) from None
                try:
                    results, ms = await one(str(q))
                    out: dict[str, Any] = {"id": qid, "results": results, "latency_ms": round(ms, 2)}
                except ToolError as exc:
                    out = {"id": qid, "results": [], "latency_ms": 0.0, "error": exc.to_dict()}
                sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
                sys.stdout.flush()


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search(
        query: str = typer.Argument(None, help="What to search for."),
        batch: Path = typer.Option(
            None, "--batch", help='JSONL file of {"id","query"} lines.', exists=True, dir_okay=False
        ),
        k: int = typer.Option(10, "--k", min=1, max=100, help="Number of results."),
        as_: str = typer.Option(None, "--as", help="Search as this principal (ACL), e.g. employee:ann."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        mode: str = typer.Option("hybrid", "--mode", help="hybrid | dense | keyword."),
        rerank: bool = typer.Option(True, "--rerank/--no-rerank", help="Rerank the candidates."),
        expand: bool = typer.Option(False, "--expand", help="Query expansion (multi-query)."),
        hyde: bool = typer.Option(False, "--hyde", help="HyDE (hypothetical document) dense query."),
    ) -> None:
        """Search the ingested documents (dense + BM25 hybrid, reranked)."""
        if (query is None) == (batch is None):
            raise fail("give a QUERY or --batch FILE.jsonl (not both)")
        if mode not in ("hybrid", "dense", "keyword"):
            raise fail("--mode must be hybrid, dense or keyword")
        try:
            run(_search(query, batch, k, as_, as_json, mode, rerank, expand, hyde))
        except ToolError as exc:
            raise fail(exc.message) from None
