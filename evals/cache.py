"""``libromind eval cache``: semantic-cache hit quality and hit latency on paraphrase/near-miss pairs.

Dataset: JSONL ``{"id","a","b","same":bool,"domain"}`` (DESIGN.md); asking ``b`` after ``a`` must hit
exactly when ``same`` is true. Each pair runs through :class:`memory.cache.semantic.CacheFront` — the
path ChatService uses (embed + partition + backend vector search + near-miss guard): ``a`` is stored
in a partition of its own, ``b`` is looked up, the entry is deleted.

The pairs are split deterministically (stratified by domain and label, ordered by a hash of the id)
into a *tune* half and a *held-out* half. ``--tune`` sweeps the similarity threshold and guard
settings on the tune half only (the choice: most correct hits with a wrong-hit rate <= 1%, ties to
the stricter threshold) and reports the choice on both halves. Without ``--tune`` the configured
defaults (``memory.cache.DEFAULT_THRESHOLD``, ``GuardConfig()``) are measured on each split.

Numbers: correct hits (same, hit), wrong hits (not same, hit), misses (same, no hit), correct
misses (not same, no hit), wrong-hit rate = wrong hits / hits, near-miss leak = wrong hits /
not-same pairs, and hit latency p50/p95 in ms (whole lookup path including the embedding).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Pair", "load_pairs", "split_pairs", "score", "sweep", "choose", "run_pairs", "register_eval"]

DEFAULT_DATASET = Path(__file__).parent / "datasets" / "cache_pairs.jsonl"
MAX_WRONG_HIT_RATE = 0.01


@dataclasses.dataclass(frozen=True)
class Pair:
    id: str
    a: str
    b: str
    same: bool
    domain: str = ""


def load_pairs(path: Path) -> list[Pair]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        d = json.loads(line)
        try:
            out.append(Pair(str(d["id"]), d["a"], d["b"], bool(d["same"]), str(d.get("domain", ""))))
        except KeyError as exc:
            raise ValueError(f"{path}:{n}: missing field {exc}") from None
    return out


def split_pairs(pairs: Sequence[Pair]) -> tuple[list[Pair], list[Pair]]:
    """(tune, held_out): within each (domain, same) stratum, alternate in id-hash order."""
    strata: dict[tuple[str, bool], list[Pair]] = {}
    for p in pairs:
        strata.setdefault((p.domain, p.same), []).append(p)
    tune: list[Pair] = []
    held: list[Pair] = []
    for key in sorted(strata):
        ordered = sorted(strata[key], key=lambda p: hashlib.sha256(p.id.encode()).hexdigest())
        for i, p in enumerate(ordered):
            (tune if i % 2 == 0 else held).append(p)
    return tune, held


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def score(pairs: Sequence[Pair], hits: Sequence[bool], latencies_ms: Sequence[float] = ()) -> dict[str, Any]:
    ch = sum(1 for p, h in zip(pairs, hits, strict=True) if p.same and h)
    wh = sum(1 for p, h in zip(pairs, hits, strict=True) if not p.same and h)
    miss = sum(1 for p, h in zip(pairs, hits, strict=True) if p.same and not h)
    cm = sum(1 for p, h in zip(pairs, hits, strict=True) if not p.same and not h)
    n_hits, n_diff = ch + wh, wh + cm
    return {
        "pairs": len(pairs),
        "correct_hits": ch,
        "wrong_hits": wh,
        "misses": miss,
        "correct_misses": cm,
        "wrong_hit_rate": round(wh / n_hits, 4) if n_hits else 0.0,
        "near_miss_leak": round(wh / n_diff, 4) if n_diff else 0.0,
        "hit_rate_on_same": round(ch / (ch + miss), 4) if ch + miss else 0.0,
        "hit_p50_ms": _pct(latencies_ms, 50),
        "hit_p95_ms": _pct(latencies_ms, 95),
    }


def _loadavg() -> list[float] | None:
    import os

    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _decide(p: Pair, sim: float, threshold: float, guard: Any) -> bool:
    from memory.cache.guard import guard_allows

    return sim >= threshold and guard_allows(p.a, p.b, guard)


def sweep(pairs: Sequence[Pair], sims: Sequence[float]) -> list[dict[str, Any]]:
    """Score every (threshold, guard) candidate offline (cosine similarities precomputed)."""
    from memory.cache.guard import GuardConfig

    guards = {"none": GuardConfig(enabled=False)}
    for edit_ratio in (0.5, 0.6, 0.7, 2.0):
        for edit_max in (2, 3, 4):
            for names in ("swap", "equal"):
                for rare in ("swap", "equal", "off"):
                    for intents in ("equal", "swap", "off"):
                        if edit_ratio > 1 and edit_max != 3:
                            continue
                        g = GuardConfig(
                            edit_ratio=edit_ratio, edit_max=edit_max, names=names, rare=rare, intents=intents
                        )
                        guards[
                            f"edit={edit_ratio}/{edit_max} names={names} rare={rare} intents={intents}"
                        ] = g
    rows = []
    for gname, g in guards.items():
        allowed = [_decide(p, 2.0, -1.0, g) for p in pairs]
        for t in np.arange(0.60, 0.99, 0.01):
            hits = [a and s >= t for a, s in zip(allowed, sims, strict=True)]
            rows.append({"threshold": round(float(t), 2), "guard": gname, "config": g, **score(pairs, hits)})
    return rows


def choose(rows: Sequence[dict[str, Any]], margin: float = 0.9) -> dict[str, Any]:
    """The guard with most correct hits at wrong-hit rate <= 1%; then, for a safety margin against
    unseen questions, the highest threshold of that guard keeping >= ``margin`` of its best hits."""
    ok = [r for r in rows if r["wrong_hit_rate"] <= MAX_WRONG_HIT_RATE]
    best = max(ok, key=lambda r: (r["correct_hits"], -r["wrong_hits"], r["threshold"]))
    same_guard = [
        r for r in ok if r["guard"] == best["guard"] and r["correct_hits"] >= margin * best["correct_hits"]
    ]
    return max(same_guard, key=lambda r: r["threshold"])


async def run_pairs(
    front: Any,
    pairs: Sequence[Pair],
    *,
    progress: Any = None,
    parts: dict[str, list[float]] | None = None,
) -> tuple[list[bool], list[float]]:
    """Store ``a`` / look up ``b`` through ``front`` for each pair; (hit flags, hit latencies ms)."""
    from memory.principals import ANONYMOUS

    hits: list[bool] = []
    lat: list[float] = []
    run = uuid.uuid4().hex[:8]
    for p in pairs:
        versions = (f"eval-{run}-{p.id}", 0)  # a partition per pair: pairs never see each other
        entry_id = await front.store(p.a, ANONYMOUS.scopes, versions, {"answer": p.a}, [f"eval:{p.id}"])
        # the same path as ChatService: embed (b is not in the vector LRU yet) + CacheFront.lookup
        t0 = time.perf_counter()
        vec = await front.embed(p.b)
        t1 = time.perf_counter()
        entry = await front.lookup(p.b, ANONYMOUS.scopes, versions, vector=vec)
        t2 = time.perf_counter()
        hits.append(entry is not None)
        if entry is not None:
            lat.append((t2 - t0) * 1000)
            if parts is not None:
                parts["embed"].append((t1 - t0) * 1000)
                parts["backend"].append((t2 - t1) * 1000)
        if entry_id:
            await front.invalidate_entry(entry_id)
        if progress is not None:
            progress()
    return hits, lat


SERVICE_PRINCIPAL = "customer:eval-cache"


async def run_service_hits(deps: Any, front: Any, pairs: Sequence[Pair]) -> dict[str, Any]:
    """End-to-end hit latency through :class:`agent.service.ChatService` (graph, checkpointer, answer
    record): ``a``'s answer is stored the way a docs turn stores it (the principal's scopes, the current
    corpus/catalog versions), then ``b`` is asked in a new thread and timed. Only turns that ChatService
    served from the cache count (non-docs questions are never looked up)."""
    from agent.caching import FRONT_KEY, versions
    from agent.service import ChatService
    from memory.principals import Principal

    deps.extras[FRONT_KEY] = front
    svc = await ChatService.create(deps, cache=True)
    principal = Principal.parse(SERVICE_PRINCIPAL)
    lat: list[float] = []
    asked = 0
    by_domain: dict[str, list[int]] = {}
    for p in pairs:
        reply = {"answer": f"(eval) {p.a}", "citations": [{"source": "eval", "snippet": p.a, "n": 1}]}
        entry_id = await front.store(p.a, principal.scopes, await versions(deps.db), reply, [])
        asked += 1
        front.clear_vectors()  # b was embedded in the first phase: measure a question never seen
        deps.embedder.clear_queries()
        t0 = time.perf_counter()
        r = await svc.ask(SERVICE_PRINCIPAL, None, p.b, channel="eval")
        ms = (time.perf_counter() - t0) * 1000
        counts = by_domain.setdefault(p.domain or "-", [0, 0])
        counts[1] += 1
        if r.get("cache_hit"):
            lat.append(ms)
            counts[0] += 1
        if entry_id:
            await front.invalidate_entry(entry_id)
    return {
        "asked": asked,
        "served_hits": len(lat),
        "served_by_domain": {d: f"{h}/{n}" for d, (h, n) in sorted(by_domain.items())},
        "p50_ms": _pct(lat, 50),
        "p95_ms": _pct(lat, 95),
    }


def _print_table(console: Any, title: str, results: dict[str, dict[str, Any]]) -> None:
    from rich.table import Table

    cols = {
        "pairs": "pairs",
        "correct_hits": "correct hits",
        "wrong_hits": "wrong hits",
        "misses": "misses",
        "correct_misses": "correct misses",
        "wrong_hit_rate": "wrong-hit rate",
        "near_miss_leak": "near-miss leak",
        "hit_p50_ms": "hit p50 ms",
        "hit_p95_ms": "hit p95 ms",
    }
    table = Table(title=title)
    table.add_column("split", no_wrap=True)
    for label in cols.values():
        table.add_column(label, justify="right")
    for name, r in results.items():
        table.add_row(name, *[str(r.get(c)) for c in cols])
    console.width = max(console.width, 150)
    console.print(table)


def register_eval(app: Any) -> None:
    import typer

    @app.command("cache")
    def cache_cmd(
        dataset: Path = typer.Option(DEFAULT_DATASET, "--dataset", help="JSONL {id,a,b,same,domain}."),
        backend: str = typer.Option("pgvector", "--backend", help="pgvector | redis"),
        redis_url: str | None = typer.Option(None, "--redis-url", help="Default: LIBROMIND_REDIS_URL."),
        tune: bool = typer.Option(False, "--tune", help="Sweep threshold/guard on the tune split first."),
        threshold: float | None = typer.Option(
            None, "--threshold", help="Override the similarity threshold."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Measure semantic-cache correct/wrong hits and hit latency on paraphrase/near-miss pairs."""
        from libromind.commands._common import console, fail, open_deps, run
        from memory.settings import get_settings

        if backend not in ("pgvector", "redis"):
            raise fail("--backend must be pgvector or redis")
        if not dataset.exists():
            raise fail(f"dataset {dataset} not found")
        pairs = load_pairs(dataset)
        settings = get_settings().model_copy(update={"cache": backend})
        if redis_url:
            from pydantic import SecretStr

            settings = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
        if backend == "redis" and settings.redis_url is None:
            raise fail(
                "--backend redis needs --redis-url or LIBROMIND_REDIS_URL (a Redis with the query engine)"
            )
        out = run(_evaluate(settings, pairs, tune, threshold, open_deps, quiet=as_json))
        if out["errors"]:
            raise fail(
                f"{out['errors']} semantic-cache backend errors during the run (is the {backend} backend "
                "reachable?): the numbers would be meaningless"
            )
        if as_json:
            print(json.dumps(out, default=str))
            return
        if out.get("tuning"):
            t = out["tuning"]
            console.print(f"tuned on {t['tune_pairs']} pairs: threshold={t['threshold']} guard={t['guard']}")
        _print_table(console, f"semantic cache ({backend}, threshold={out['threshold']})", out["results"])
        svc = out["service"]
        console.print(
            f"hit latency breakdown (ms): {out['hit_breakdown_ms']}; load average {out['load_average']}\n"
            f"end to end through ChatService: {svc['served_hits']}/{svc['asked']} correct hits served from "
            f"the cache ({svc['served_by_domain']}; only docs turns are cached), p50 {svc['p50_ms']} ms, p95 {svc['p95_ms']} ms (goal p95 <= 15 ms)"
        )


async def _evaluate(
    settings: Any, pairs: list[Pair], tune: bool, threshold: float | None, open_deps: Any, quiet: bool = False
) -> dict[str, Any]:
    from rich.progress import Progress

    from memory.cache import make_cache
    from memory.cache.guard import GuardConfig
    from memory.cache.semantic import CacheFront

    tune_set, held = split_pairs(pairs)
    out: dict[str, Any] = {"backend": settings.cache, "dataset_pairs": len(pairs)}
    async with open_deps(settings) as deps:
        guard = GuardConfig()
        if tune:
            import asyncio

            vecs_a = await asyncio.to_thread(deps.embedder.embed, [p.a for p in tune_set])
            vecs_b = await asyncio.to_thread(deps.embedder.embed, [p.b for p in tune_set])
            sims = [float(x) for x in (vecs_a * vecs_b).sum(axis=1)]
            best = choose(sweep(tune_set, sims))
            guard, threshold = best["config"], best["threshold"]
            out["tuning"] = {
                "tune_pairs": len(tune_set),
                "threshold": threshold,
                "guard": best["guard"],
                "guard_config": dataclasses.asdict(guard),
            }
        backend = make_cache(settings, deps.db, deps.embedder)
        assert backend is not None
        front = CacheFront(backend, deps.embedder, threshold=threshold, guard=guard)
        out["threshold"] = front.threshold
        out["guard"] = dataclasses.asdict(guard)
        await front.embed("warm up")
        results: dict[str, dict[str, Any]] = {}
        all_hits: list[bool] = []
        all_lat: list[float] = []
        parts: dict[str, list[float]] = {"embed": [], "backend": []}
        with Progress(transient=True, disable=quiet) as bar:
            for name, subset in (("tune", tune_set), ("held_out", held)):
                task = bar.add_task(f"{name} pairs", total=len(subset))
                hits, lat = await run_pairs(
                    front, subset, progress=lambda t=task: bar.advance(t), parts=parts
                )
                results[name] = score(subset, hits, lat)
                all_hits += hits
                all_lat += lat
        results["all"] = score(tune_set + held, all_hits, all_lat)
        hit_pairs = [p for p, h in zip(tune_set + held, all_hits, strict=True) if h and p.same]
        out["service"] = await run_service_hits(deps, front, hit_pairs)
        out["hit_breakdown_ms"] = {k: {"p50": _pct(v, 50), "p95": _pct(v, 95)} for k, v in parts.items()}
        out["load_average"] = _loadavg()
        out["results"] = results
        out["errors"] = front.stats.errors
        await front.aclose()
    return out
