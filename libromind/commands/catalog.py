"""``libromind catalog import | import-ratings | search | embed | load-demo``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from libromind.commands._common import console, fail, is_tty, open_deps, run
from memory.commerce import CommerceError

__all__ = ["register"]


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    if not enabled:
        yield None
        return
    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description:<11}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:

        def cb(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, done, 1))

        yield cb


def _print_report(rep: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(rep))
        return
    console.print(
        f"[bold]{rep['kind']}[/] ({rep['format']}): read {rep['read']:,}, inserted {rep['inserted']:,}, "
        f"updated {rep['updated']:,}, unchanged {rep['unchanged']:,}, rejected {rep['rejected']:,} "
        f"in {rep['seconds']} s"
    )
    for label, key in (("rejected", "reasons"), ("repaired", "repaired")):
        if rep.get(key):
            t = Table(title=label, show_header=False, box=None)
            for reason, n in rep[key].items():
                t.add_row(f"  {reason}", f"{n:,}")
            console.print(t)
    for ex in rep.get("examples", [])[:10]:
        console.print(f"  line {ex['line']}: {ex['isbn'] or '-'}: {ex['reason']}", highlight=False)


def register(app: typer.Typer) -> None:
    cat = typer.Typer(help="Book catalog: import books and ratings, search.", no_args_is_help=True)

    @cat.command("import")
    def import_cmd(
        file: Path = typer.Argument(
            ..., exists=True, dir_okay=False, help="CSV, JSONL or Book-Crossing file (.gz ok)."
        ),
        fmt: str = typer.Option("auto", "--format", "-f", help="auto | csv | jsonl | bx"),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        rejects: Path | None = typer.Option(None, "--rejects", help="Write rejected rows (JSONL) here."),
    ) -> None:
        """Import books (upsert by ISBN); rejected rows are reported with their reasons."""
        if fmt not in ("auto", "csv", "jsonl", "bx"):
            raise fail("--format must be auto, csv, jsonl or bx.")
        from memory.commerce.importer import import_books

        async def go() -> dict[str, Any]:
            async with open_deps() as deps:
                with _progress(is_tty() and not as_json) as cb:
                    rep = await import_books(deps.db, file, fmt, progress=cb)  # type: ignore[arg-type]
                return rep.to_dict()

        try:
            rep = run(go())
        except CommerceError as exc:
            raise fail(exc.message) from None
        if rejects:
            with rejects.open("w", encoding="utf-8") as fh:
                for ex in rep["examples"]:
                    fh.write(json.dumps(ex) + "\n")
        _print_report(rep, as_json)

    @cat.command("import-ratings")
    def import_ratings_cmd(
        file: Path = typer.Argument(
            ..., exists=True, dir_okay=False, help="Book-Crossing ratings, CSV or JSONL."
        ),
        recompute: bool = typer.Option(True, "--recompute/--no-recompute", help="Rebuild 'also liked'."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Import reader ratings (0 = implicit, 1-10) and rebuild "readers who liked X also liked"."""
        from memory.commerce.recommend import import_ratings

        async def go() -> dict[str, Any]:
            async with open_deps() as deps:
                with _progress(is_tty() and not as_json) as cb:
                    rep = await import_ratings(deps.db, file, progress=cb, recompute=recompute)
                return rep.to_dict()

        try:
            rep = run(go())
        except CommerceError as exc:
            raise fail(exc.message) from None
        _print_report(rep, as_json)

    @cat.command("search")
    def search_cmd(
        query: str | None = typer.Argument(None, help="Title or author words."),
        author: str | None = typer.Option(None, "--author"),
        publisher: str | None = typer.Option(None, "--publisher"),
        year_min: int | None = typer.Option(None, "--year-min"),
        year_max: int | None = typer.Option(None, "--year-max"),
        price_min: int | None = typer.Option(None, "--price-min", help="Cents."),
        price_max: int | None = typer.Option(None, "--price-max", help="Cents."),
        in_stock: bool | None = typer.Option(None, "--in-stock/--out-of-stock"),
        sort: str = typer.Option("relevance", "--sort", help="relevance | title | year | price"),
        page: int = typer.Option(1, "--page"),
        page_size: int = typer.Option(10, "--page-size", "-k"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Search the catalog (trigram + semantic), with filters."""
        from tools.catalog import search_books
        from tools.errors import ToolError

        async def go() -> dict[str, Any]:
            async with open_deps():
                return await search_books(
                    query,
                    author=author,
                    publisher=publisher,
                    year_min=year_min,
                    year_max=year_max,
                    price_min_cents=price_min,
                    price_max_cents=price_max,
                    in_stock=in_stock,
                    sort=sort,  # type: ignore[arg-type]
                    page=page,
                    page_size=page_size,
                )

        try:
            res = run(go())
        except ToolError as exc:
            raise fail(exc.message) from None
        if as_json:
            console.print_json(json.dumps(res))
            return
        t = Table(title=f"{res['total']:,}{'+' if res['total_is_lower_bound'] else ''} books")
        for col in ("ISBN", "Title", "Author", "Year", "Price", "Stock"):
            t.add_column(col)
        for b in res["results"]:
            t.add_row(
                b["isbn"], b["title"], b["author"], str(b["year"] or ""), b["price_display"], str(b["stock"])
            )
        console.print(t)
        if res.get("note"):
            console.print(f"[dim]{res['note']}[/]")

    @cat.command("embed")
    def embed_cmd(limit: int = typer.Option(10_000, "--limit", help="Books to embed now.")) -> None:
        """Embed books that have no embedding yet (most-rated first) for semantic search."""
        from memory.commerce.demo import embed_pending

        async def go() -> int:
            async with open_deps() as deps:
                with _progress(is_tty()) as cb:
                    return await embed_pending(deps.db, deps.embedder, limit, progress=cb)

        console.print(f"embedded {run(go()):,} books")

    @cat.command("load-demo")
    def load_demo_cmd(
        data_dir: Path = typer.Option(
            Path("data"), "--data-dir", help="Folder holding books/BX-Books.csv.gz."
        ),
        force: bool = typer.Option(False, "--force", help="Reload even when already loaded."),
    ) -> None:
        """Load the Book-Crossing demo catalog (demo prices and stock), once."""
        from memory.commerce.demo import load_demo_catalog

        async def go() -> dict[str, Any]:
            async with open_deps() as deps:
                with _progress(is_tty()) as cb:
                    return await load_demo_catalog(deps.db, deps.embedder, data_dir, cb, force=force)

        try:
            out = run(go())
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
        console.print_json(json.dumps(out))

    app.add_typer(cat, name="catalog")


Sort = Literal["relevance", "title", "year", "price"]
