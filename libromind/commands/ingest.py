"""``libromind ingest``: add files and directories to the searchable documents."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from libromind.commands._common import console, err_console, fail, open_deps, run
from tools.errors import ToolError

__all__ = ["register"]


async def _ingest(paths: list[Path], acl: str, as_json: bool) -> dict[str, Any]:
    from tools.knowledge import ingest_paths, walk_paths

    async with open_deps() as deps:
        total = len(walk_paths(paths))
        batch = await _start_batch(deps, paths, acl, total)
        progress = Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[current]}"),
            console=err_console,
            transient=as_json,
            disable=as_json and not err_console.is_terminal,
        )
        with progress:
            task = progress.add_task("ingest", total=total, current="")

            async def on_progress(event: dict[str, Any]) -> None:
                o = event["outcome"]
                progress.update(task, completed=event["done"], current=f"{o['status']}: {o['source']}")
                if batch is not None:
                    await batch.progress(event["done"], total)

            summary = await ingest_paths(paths, acl, progress=on_progress)
        if batch is not None:
            await batch.finish({k: v for k, v in summary.items() if k != "documents"})
        return summary


async def _start_batch(deps: Any, paths: list[Path], acl: str, total: int) -> Any:
    """Record the batch as a job row (status + progress visible to GET /v1/jobs/{id})."""
    try:
        from workers.queue import BatchRecord
    except ImportError:  # pragma: no cover
        return None
    return await BatchRecord.start(
        deps.db, "ingest_batch", {"paths": [str(p) for p in paths], "acl": acl}, total
    )


def _print_summary(summary: dict[str, Any]) -> None:
    failed = [d for d in summary["documents"] if d["status"] == "failed"]
    if failed:
        t = Table(title="Failed files", show_lines=False)
        t.add_column("source", style="red")
        t.add_column("code")
        t.add_column("reason", overflow="fold")
        for d in failed:
            t.add_row(d["source"], d.get("error_code", ""), d.get("error", ""))
        console.print(t)
    console.print(
        f"[bold]{summary['files']} files[/]: {summary['indexed']} indexed, {summary['unchanged']} unchanged, "
        f"{summary['duplicate']} duplicate, {summary['acl_changed']} ACL changed, "
        f"{summary['failed']} failed; "
        f"{summary['chunks']} chunks, {summary['pages']} PDF pages in {summary['seconds']:.1f} s "
        f"(corpus version {summary['corpus_version']})",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        paths: list[Path] = typer.Argument(..., help="Files or directories (walked recursively)."),
        acl: str = typer.Option("public", "--acl", help="public | internal | group:NAME."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Add documents (PDF, DOCX, HTML, Markdown, text); changed files replace their old chunks."""
        try:
            summary = run(_ingest(paths, acl, as_json))
        except ToolError as exc:
            raise fail(exc.message) from None
        if as_json:
            sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        else:
            _print_summary(summary)
        if summary["failed"]:
            raise typer.Exit(1)
