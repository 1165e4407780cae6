"""``libromind chat``: a terminal chat with the agent (rich), with memory across turns."""

from __future__ import annotations

import uuid

import typer

from libromind.commands._common import console, fail, open_deps, parse_principal, run

__all__ = ["register"]

HELP = "Commands: /new (new conversation), /quit. Orders are placed only after you reply 'yes' to a quote."


def register(app: typer.Typer) -> None:
    @app.command("chat")
    def chat(
        as_: str | None = typer.Option(
            None, "--as", help="Principal: customer:<id>, employee:<id>[:groups]."
        ),
        thread: str | None = typer.Option(None, "--thread", help="Continue a conversation by id."),
        policy: str | None = typer.Option(None, "--policy", help="offline | openai | llamacpp."),
    ) -> None:
        """Chat with the agent in the terminal (steps, citations and order confirmations shown live)."""
        if policy is not None and policy not in ("offline", "openai", "llamacpp"):
            raise fail("--policy must be offline, openai or llamacpp.")
        principal = parse_principal(as_)

        async def main() -> None:
            from rich.markup import escape
            from rich.prompt import Prompt

            from agent.service import ChatService

            current = thread or uuid.uuid4().hex[:12]
            async with open_deps() as deps:
                service = await ChatService.create(deps, policy=policy)
                console.print(f"[bold]libromind chat[/] as {principal} · thread {current}\n[dim]{HELP}[/]")
                while True:
                    try:
                        message = Prompt.ask("[bold cyan]you[/]")
                    except (EOFError, KeyboardInterrupt):
                        console.print()
                        return
                    if message.strip() in ("/quit", "/exit"):
                        return
                    if message.strip() == "/new":
                        current = uuid.uuid4().hex[:12]
                        console.print(f"[dim]new conversation {current}[/]")
                        continue
                    if not message.strip():
                        continue
                    steps: list[str] = []
                    with console.status("[dim]thinking…[/]") as status:
                        async for ev in service.stream(principal, current, message, channel="cli"):
                            if ev["type"] == "step":
                                steps.append(ev["name"])
                                status.update(f"[dim]{' → '.join(steps)}…[/]")
                            elif ev["type"] == "error":
                                console.print(f"[red]error:[/] {escape(ev['message'])}")
                            elif ev["type"] == "final":
                                reply = ev["reply"]
                    console.print(
                        "[bold green]libromind[/]: " + escape(reply.get("answer") or ""),
                        highlight=False,
                        soft_wrap=True,
                    )
                    for i, c in enumerate(reply.get("citations") or [], 1):
                        where = " — ".join(
                            str(x)
                            for x in (
                                c.get("source"),
                                c.get("section"),
                                f"p. {c['page']}" if c.get("page") else None,
                            )
                            if x
                        )
                        console.print(f"  [dim][{i}] {escape(where)}[/]", highlight=False)
                    for n in reply.get("notices") or []:
                        console.print(f"  [yellow]note:[/] {escape(n)}", highlight=False)
                    if reply.get("order"):
                        console.print(
                            f"  [green]order {escape(str(reply['order'].get('id')))} "
                            f"{escape(str(reply['order'].get('status')))}[/]"
                        )
                    console.print(
                        f"  [dim]{' → '.join(reply.get('steps') or [])} · {reply.get('latency_ms')} ms"
                        f"{' · cache' if reply.get('cache_hit') else ''}[/]",
                        highlight=False,
                    )

        run(main())
