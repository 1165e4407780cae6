"""``libromind ask``: one question (or a JSONL batch) through the agent, per the DESIGN.md contract."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from libromind.commands._common import console, err_console, fail, open_deps, parse_principal, run

__all__ = ["register", "render_reply"]


def render_reply(reply: dict[str, Any]) -> None:
    """Human-readable reply: answer, citations, steps and latency."""
    from rich.markup import escape

    console.print(escape(reply.get("answer") or ""), highlight=False, soft_wrap=True)
    for i, c in enumerate(reply.get("citations") or [], 1):
        where = ", ".join(
            str(x) for x in (c.get("section"), f"p. {c['page']}" if c.get("page") else None) if x
        )
        console.print(
            f"  [dim][{i}] {escape(str(c.get('source')))}{' — ' + escape(where) if where else ''}[/]",
            highlight=False,
            soft_wrap=True,
        )
    for n in reply.get("notices") or []:
        console.print(f"[yellow]note:[/] {escape(n)}", highlight=False)
    order = reply.get("order")
    if order:
        console.print(f"[green]order {escape(str(order.get('id')))}: {escape(str(order.get('status')))}[/]")
    console.print(
        f"[dim]steps: {' → '.join(reply.get('steps') or []) or '-'} · {reply.get('latency_ms')} ms"
        f"{' · cache hit' if reply.get('cache_hit') else ''}[/]",
        highlight=False,
    )


def _read_batch(path: Path) -> list[dict[str, Any]]:
    try:
        lines = (
            path.read_text(encoding="utf-8").splitlines()
            if str(path) != "-"
            else sys.stdin.read().splitlines()
        )
    except OSError as exc:
        raise fail(f"Cannot read {path}: {exc.strerror or exc}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("message"), str):
            raise fail(f'{path}:{n}: each line needs a string "message" (and optional id, thread, as)')
        out.append(item)
    return out


def register(app: typer.Typer) -> None:
    @app.command("ask")
    def ask(
        question: str | None = typer.Argument(None, help="The message to send."),
        as_: str | None = typer.Option(
            None, "--as", help="Principal: customer:<id>, employee:<id>[:groups]."
        ),
        thread: str | None = typer.Option(None, "--thread", help="Conversation id (memory across calls)."),
        batch: Path | None = typer.Option(None, "--batch", help="JSONL file of {id, thread, as, message}."),
        json_out: bool = typer.Option(False, "--json", help="Print the reply as JSON."),
        policy: str | None = typer.Option(
            None, "--policy", help="offline | openai | llamacpp (default: LIBROMIND_LLM)."
        ),
    ) -> None:
        """Ask the agent (docs questions, catalog, orders). Orders always need a confirming second turn."""
        if (question is None) == (batch is None):
            raise fail("Give a QUESTION or --batch FILE.jsonl (not both).")
        if policy is not None and policy not in ("offline", "openai", "llamacpp"):
            raise fail("--policy must be offline, openai or llamacpp.")
        default_principal = parse_principal(as_)
        items = _read_batch(batch) if batch is not None else [{"message": question, "thread": thread}]
        principals = [parse_principal(it.get("as")) if it.get("as") else default_principal for it in items]

        async def main() -> None:
            from agent.service import ChatService

            async with open_deps() as deps:
                service = await ChatService.create(deps, policy=policy)
                for it, principal in zip(items, principals, strict=True):
                    reply = await service.ask(
                        principal, it.get("thread") or thread, it["message"], channel="cli"
                    )
                    if batch is not None:
                        print(json.dumps({"id": it.get("id"), **reply}, ensure_ascii=False), flush=True)
                    elif json_out:
                        print(json.dumps(reply, ensure_ascii=False, indent=2))
                    else:
                        render_reply(reply)
                    if reply.get("error") and batch is None:
                        err_console.print(f"[red]error:[/] {reply['error']}")

        run(main())
