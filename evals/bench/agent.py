"""``libromind bench agent``: docs-turn latency through ChatService in a warm process (offline policy).

A bench database holds the whole Debian Policy corpus (ingested on first use; the embedding cache makes
later runs quick). The process is warmed with a few unrelated turns (models loaded, pools open), then
every question of the retrieval set is asked once in a new thread, the semantic cache off: these are
*novel* turns (questions never seen). A second pass asks them again (*repeat*: everything in memory).
By default the passage vectors are precomputed first, as a serving process does in the background
after ingestion (tools.passages); ``--no-precompute`` measures a corpus whose passages were never
embedded (the worst case). p50/p95 per pass; the goal is p50 < 150 ms on novel turns.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer

__all__ = ["register_bench", "run_agent_bench"]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO / "data" / "docs" / "debian-policy"
DEFAULT_DATASET = REPO / "evals" / "datasets" / "policy_qa.jsonl"
WARMUP = ["hello", "What is a source package?", "Which sections does the archive have?"]


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def load_questions(dataset: Path, limit: int | None = None) -> list[str]:
    questions = [json.loads(line)["question"] for line in dataset.read_text().splitlines() if line.strip()]
    return questions[:limit] if limit else questions


async def run_agent_bench(questions: list[str], corpus: Path, precompute: bool = True) -> dict[str, Any]:
    from agent.policy import reset_policies
    from agent.service import ChatService
    from evals.bench.search import bench_settings
    from memory.settings import get_settings
    from tools.deps import Deps, use
    from tools.knowledge import ingest_paths

    settings = await bench_settings(get_settings(), "libromind_bench_agent", fresh=False)
    deps = await Deps.build(settings)
    use(deps)
    try:
        t0 = time.perf_counter()
        await ingest_paths([corpus], "public")  # unchanged files are skipped
        ingest_s = time.perf_counter() - t0
        pre_s = None
        if precompute:  # what the serving process's background hook does after ingestion
            from tools.passages import embed_passage_batch, sync_passage_model

            t0 = time.perf_counter()
            await sync_passage_model(deps.db, deps.embedder)
            while await embed_passage_batch(deps.db, deps.embedder, 64):
                pass
            pre_s = round(time.perf_counter() - t0, 1)
        row = await deps.db.fetchrow(
            "SELECT count(*) AS n, count(*) FILTER (WHERE passages_ready) AS r FROM chunks"
        )
        chunks, ready = (int(row["n"]), int(row["r"])) if row else (0, 0)
        reset_policies()
        svc = await ChatService.create(deps, cache=False)
        for q in WARMUP:
            await svc.ask("customer:bench-agent", None, q, channel="bench")
        passes: dict[str, dict[str, Any]] = {}
        for name in ("novel", "repeat"):
            lat: list[float] = []
            steps: dict[str, int] = {}
            for q in questions:
                t = time.perf_counter()
                r = await svc.ask("customer:bench-agent", None, q, channel="bench")
                lat.append((time.perf_counter() - t) * 1000)
                if r.get("error"):
                    raise RuntimeError(f"turn failed for {q!r}: {r['error']}")
                key = ">".join(r["steps"])
                steps[key] = steps.get(key, 0) + 1
            passes[name] = {
                "turns": len(lat),
                "p50_ms": _pct(lat, 50),
                "p95_ms": _pct(lat, 95),
                "mean_ms": round(statistics.fmean(lat), 1),
                "routes": dict(sorted(steps.items(), key=lambda kv: -kv[1])[:5]),
            }
    finally:
        await deps.close()
    import os

    return {
        "corpus_chunks": chunks,
        "passages_ready": ready,
        "precompute_s": pre_s,
        "ingest_s": round(ingest_s, 1),
        "embed_backend": settings.embed_backend,
        "passes": passes,
        "goal_p50_ms": 150,
        "met": (passes["novel"]["p50_ms"] or 1e9) < 150,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def register_bench(app: typer.Typer) -> None:
    @app.command("agent")
    def agent(
        corpus: Path = typer.Option(DEFAULT_CORPUS, "--corpus", exists=True, file_okay=False),
        dataset: Path = typer.Option(DEFAULT_DATASET, "--dataset", exists=True, dir_okay=False),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Ask only the first N questions."),
        precompute: bool = typer.Option(
            True, "--precompute/--no-precompute", help="Precompute passage vectors first (as serving does)."
        ),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Docs-turn latency through ChatService in a warm process: novel questions, then repeats."""
        from libromind.commands._common import console, run

        report = run(run_agent_bench(load_questions(dataset, limit), corpus, precompute))
        if as_json:
            sys.stdout.write(json.dumps(report) + "\n")
            return
        for name, r in report["passes"].items():
            console.print(
                f"{name}: {r['turns']} docs turns, p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, "
                f"mean {r['mean_ms']} ms; routes {r['routes']}",
                highlight=False,
            )
        console.print(
            f"corpus: {report['corpus_chunks']} chunks, passage vectors ready for {report['passages_ready']}"
            f" (precompute {report['precompute_s']} s)",
            highlight=False,
        )
        console.print(
            f"goal p50 < 150 ms on novel turns: {'met' if report['met'] else 'NOT met'} "
            f"(embedding backend {report['embed_backend']}, load average {report['load_average']})",
            highlight=False,
        )
