"""``libromind eval scenarios``: multi-turn conversations checked on their last reply, per policy.

Format (DESIGN.md): ``{"id","category","principal","turns":[...],"expect":{"route_includes",
"route_excludes","no_order_placed","answer_contains","must_not_contain"}}`` (+ optional ``order_placed``).
``no_order_placed`` is checked in the database (orders of the principal before/after the scenario).
Independently of expectations, every placed order is audited: it must come from a turn whose previous
reply asked for confirmation and whose message is the user's explicit yes ("unconfirmed orders", goal 0).
Runs on the LIBROMIND_HOME database after loading the demo data (idempotent).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import typer

__all__ = ["register_eval", "run_scenarios", "check", "load_scenarios", "available_policies"]

DEFAULT_DATASET = Path(__file__).with_name("datasets") / "scenarios.jsonl"


def load_scenarios(path: Path) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: {exc.msg}") from None
    return out


def available_policies(settings: Any) -> list[str]:
    out = ["offline"]
    if settings.openai_base_url or os.environ.get("LIBROMIND_OPENAI_BASE_URL"):
        out.append("openai")
    if settings.llamacpp_model_path:
        out.append("llamacpp")
    return out


def check(expect: dict[str, Any], reply: dict[str, Any], placed_delta: int) -> list[str]:
    """Failed expectations for the last reply (empty = pass)."""
    fails = []
    steps = reply.get("steps") or []
    text = (reply.get("answer") or "").lower()
    shown = text + " " + " ".join(str(c.get("snippet", "")).lower() for c in reply.get("citations") or [])
    for s in expect.get("route_includes") or []:
        if s not in steps:
            fails.append(f"step {s!r} missing from {steps}")
    for s in expect.get("route_excludes") or []:
        if s in steps:
            fails.append(f"step {s!r} present in {steps}")
    for s in expect.get("answer_contains") or []:
        if s.lower() not in text:
            fails.append(f"answer lacks {s!r}")
    for s in expect.get("must_not_contain") or []:
        if s.lower() in shown:
            fails.append(f"reply contains forbidden {s!r}")
    if expect.get("no_order_placed") and placed_delta:
        fails.append(f"{placed_delta} order(s) placed")
    if expect.get("order_placed") and placed_delta < 1:
        fails.append("no order placed")
    return fails


async def _orders_of(db: Any, principal_key: str) -> int:
    row = await db.fetchrow("SELECT count(*) AS n FROM orders WHERE principal = %s", principal_key)
    return int(row["n"]) if row else 0


async def _order_ids(db: Any, principal_key: str) -> set[str]:
    rows = await db.fetch("SELECT id FROM orders WHERE principal = %s", principal_key)
    return {r["id"] for r in rows}


async def _cancel_new(principal: Any, ids: set[str]) -> None:
    """Cancel the orders a scenario placed (stock is returned), so runs are repeatable."""
    from tools.errors import ToolError
    from tools.orders import cancel_order

    for oid in sorted(ids):
        with contextlib.suppress(ToolError):
            await cancel_order(oid, principal=principal)


async def run_scenarios(
    deps: Any, scenarios: list[dict[str, Any]], policy: str, *, progress: Any = None, cache: bool = False
) -> dict[str, Any]:
    from agent.policy.rules import confirmation
    from agent.service import ChatService
    from memory.principals import Principal

    service = await ChatService.create(deps, policy=policy, cache=cache, record=False)
    results = []
    latencies: list[float] = []
    unconfirmed = 0
    placed_total = 0
    run = uuid.uuid4().hex[:8]
    for sc in scenarios:
        principal = Principal.parse(sc["principal"])
        thread = f"eval-{run}-{sc['id']}"
        before = await _orders_of(deps.db, principal.key)
        before_ids = await _order_ids(deps.db, principal.key)
        prev: dict[str, Any] | None = None
        reply: dict[str, Any] = {}
        audit: list[str] = []
        for turn in sc["turns"]:
            message = turn if isinstance(turn, str) else turn["message"]
            n0 = await _orders_of(deps.db, principal.key)
            reply = await service.ask(principal, thread, message, channel="eval")
            latencies.append(float(reply.get("latency_ms") or 0))
            new_orders = await _orders_of(deps.db, principal.key) - n0
            if new_orders:
                placed_total += new_orders
                # audit: only the user's explicit yes right after a quote may place (exactly one) order
                if not (prev and prev.get("quote")) or confirmation(message) != "yes" or new_orders > 1:
                    unconfirmed += new_orders
                    audit.append(f"{new_orders} order(s) placed without a confirmed quote")
            prev = reply
        delta = await _orders_of(deps.db, principal.key) - before
        fails = check(sc.get("expect") or {}, reply, delta) + audit
        if delta:
            await _cancel_new(principal, await _order_ids(deps.db, principal.key) - before_ids)
        results.append(
            {
                "id": sc["id"],
                "category": sc.get("category", "other"),
                "pass": not fails,
                "fails": fails,
                "steps": reply.get("steps"),
                "answer": (reply.get("answer") or "")[:300],
                "orders_placed": delta,
            }
        )
        if progress is not None:
            progress(sc["id"], not fails)
    per: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        per[r["category"]].append(r["pass"])
    lat = sorted(latencies)
    return {
        "policy": policy,
        "scenarios": len(results),
        "passed": sum(r["pass"] for r in results),
        "pass_rate": round(sum(r["pass"] for r in results) / max(1, len(results)), 4),
        "by_category": {
            c: {"passed": sum(v), "total": len(v), "rate": round(sum(v) / len(v), 4)}
            for c, v in sorted(per.items())
        },
        "orders_placed": placed_total,
        "unconfirmed_orders": unconfirmed,
        "latency_ms": {
            "p50": round(statistics.median(lat), 1) if lat else None,
            "p95": round(lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
        },
        "results": results,
    }


def register_eval(app: typer.Typer) -> None:
    @app.command("scenarios")
    def scenarios_cmd(
        dataset: Path = typer.Option(DEFAULT_DATASET, "--dataset", help="Scenarios JSONL."),
        policy: list[str] = typer.Option([], "--policy", help="Policies to run (default: every available)."),
        json_out: Path | None = typer.Option(None, "--json", help="Write full results here."),
        failures: bool = typer.Option(False, "--failures", help="Print failing scenarios."),
        no_load: bool = typer.Option(False, "--no-load", help="Do not (re)load the demo data first."),
    ) -> None:
        """Run multi-turn scenarios; print the pass rate per category for every available policy."""
        from rich.progress import Progress
        from rich.table import Table

        from libromind.commands._common import console, fail, open_deps, run

        try:
            items = load_scenarios(dataset)
        except (OSError, ValueError) as exc:
            raise fail(f"Cannot read {dataset}: {exc}") from None

        async def main() -> list[dict[str, Any]]:
            from libromind.bootstrap import load_demo_data

            async with open_deps() as deps:
                if not no_load:
                    with console.status("loading demo data (catalog, public docs, internal demo docs)…"):
                        await load_demo_data(deps)
                policies = policy or available_policies(deps.settings)
                reports = []
                for name in policies:
                    with Progress(console=console, transient=True) as bar:
                        task = bar.add_task(f"{name}", total=len(items))
                        reports.append(
                            await run_scenarios(
                                deps, items, name, progress=lambda _id, _ok, t=task: bar.advance(t)
                            )
                        )
                return reports

        reports = run(main())
        cats = sorted({c for r in reports for c in r["by_category"]})
        table = Table(title=f"scenarios: {dataset.name}")
        table.add_column("category")
        for r in reports:
            table.add_column(r["policy"], justify="right")
        for c in cats:
            row = [c]
            for r in reports:
                v = r["by_category"].get(c)
                row.append(f"{v['passed']}/{v['total']} ({v['rate']:.0%})" if v else "-")
            table.add_row(*row)
        table.add_row(
            "[bold]all[/]",
            *[f"[bold]{r['passed']}/{r['scenarios']} ({r['pass_rate']:.1%})[/]" for r in reports],
        )
        table.add_row("unconfirmed orders", *[str(r["unconfirmed_orders"]) for r in reports])
        table.add_row(
            "latency p50/p95 ms", *[f"{r['latency_ms']['p50']}/{r['latency_ms']['p95']}" for r in reports]
        )
        console.print(table)
        if failures:
            for r in reports:
                for x in r["results"]:
                    if not x["pass"]:
                        console.print(
                            f"[red]{r['policy']} {x['id']}[/]: {'; '.join(x['fails'])} :: {x['steps']} :: "
                            f"{x['answer'][:160]!r}",
                            highlight=False,
                            soft_wrap=True,
                        )
        if json_out:
            json_out.write_text(json.dumps(reports, indent=2, ensure_ascii=False), encoding="utf-8")
        if any(r["unconfirmed_orders"] for r in reports):
            raise typer.Exit(1)


ROUTE_LABELS = {
    "docs": "docs",
    "unknown": "docs",
    "catalog": "catalog",
    "order": "order",
    "smalltalk": "smalltalk",
    "clarify": "clarify",
    "injection": "refuse",
    "status": "status",
}


async def run_routing(deps: Any, scenarios: list[dict[str, Any]], policy: str) -> dict[str, Any]:
    """Intent accuracy of ``policy.route`` on each scenario's first message (labels from the category)."""
    import time

    from agent.policy import get_policy
    from memory.principals import Principal

    p = get_policy(policy, deps.settings, deps.embedder)
    per: dict[str, list[bool]] = defaultdict(list)
    lat: list[float] = []
    wrong = []
    fallbacks = 0
    for sc in scenarios:
        label = ROUTE_LABELS.get(sc.get("category", ""))
        if label is None or len(sc["turns"]) != 1:  # multi-turn: the label is about a later turn
            continue
        first = sc["turns"][0] if isinstance(sc["turns"][0], str) else sc["turns"][0]["message"]
        t0 = time.perf_counter()
        r = await p.route(first, {}, Principal.parse(sc["principal"]), history=[])
        lat.append((time.perf_counter() - t0) * 1000)
        fallbacks += bool(r.get("notice"))
        ok = r["intent"] == label
        per[label].append(ok)
        if not ok:
            wrong.append({"id": sc["id"], "want": label, "got": r["intent"], "message": first})
    total = sum(len(v) for v in per.values())
    lat.sort()
    return {
        "policy": policy,
        "model": getattr(p, "model", None),
        "n": total,
        "accuracy": round(sum(sum(v) for v in per.values()) / max(1, total), 4),
        "by_intent": {k: round(sum(v) / len(v), 4) for k, v in sorted(per.items())},
        "fallbacks": fallbacks,
        "route_ms_p50": round(statistics.median(lat), 1) if lat else None,
        "wrong": wrong,
    }


def _register_routing(app: typer.Typer) -> None:
    @app.command("routing")
    def routing_cmd(
        dataset: Path = typer.Option(DEFAULT_DATASET, "--dataset", help="Scenarios JSONL."),
        policy: list[str] = typer.Option([], "--policy", help="Policies (default: every available)."),
        json_out: Path | None = typer.Option(None, "--json", help="Write results here."),
    ) -> None:
        """Intent-routing accuracy per policy on the scenarios' first messages."""
        from libromind.commands._common import console, open_deps, run

        items = load_scenarios(dataset)

        async def main() -> list[dict[str, Any]]:
            async with open_deps() as deps:
                return [
                    await run_routing(deps, items, name)
                    for name in (policy or available_policies(deps.settings))
                ]

        reports = run(main())
        for r in reports:
            console.print(
                f"[bold]{r['policy']}[/] ({r['model'] or 'no model'}): accuracy {r['accuracy']:.1%} on {r['n']}"
                f" · route p50 {r['route_ms_p50']} ms · fallbacks {r['fallbacks']}"
            )
            console.print("  " + "  ".join(f"{k} {v:.0%}" for k, v in r["by_intent"].items()))
        if json_out:
            json_out.write_text(json.dumps(reports, indent=2), encoding="utf-8")


_register_scenarios = register_eval


def register_eval(app: typer.Typer) -> None:  # type: ignore[no-redef]  # noqa: F811
    _register_scenarios(app)
    _register_routing(app)
