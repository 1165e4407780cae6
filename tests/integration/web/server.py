"""Run the real web app for browser tests: load a small demo subset, then serve with uvicorn.

    python -m tests.integration.web.server --port 8765 --data-dir /tmp/x   (settings from LIBROMIND_* env)

Data (fast to load, same code paths as the full demo): the Perl policy chapters of the Debian policy
documents (public ACL) and a catalog subset (Stephen King titles plus a few others, explicit prices and
stock) imported through the real catalog importer. Prints ``READY`` once serving.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import logging
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
OTHERS = (
    "Classical Mythology",
    "Harry Potter and the Sorcerer's Stone (Harry Potter (Paperback))",
    "The Da Vinci Code",
    "To Kill a Mockingbird",
)


def make_catalog(out: Path, kings: int = 25) -> Path:
    """A JSONL catalog subset from the Book-Crossing dump (prices and stock made explicit)."""
    rows: list[dict[str, object]] = []
    seen_titles: set[str] = set()
    with gzip.open(REPO / "data" / "books" / "BX-Books.csv.gz", "rt", encoding="latin-1", newline="") as fh:
        reader = csv.reader(fh, delimiter=";", quotechar='"', escapechar="\\", doublequote=False)
        next(reader)
        for row in reader:
            if len(row) != 8 or not row[0][:9].isdigit():
                continue
            isbn, title, author, year, publisher = row[:5]
            want_king = author == "Stephen King" and sum(1 for r in rows if r["author"] == author) < kings
            if (want_king or title in OTHERS) and title.lower() not in seen_titles:
                seen_titles.add(title.lower())
                n = len(rows)
                rows.append(
                    {
                        "isbn": isbn,
                        "title": title,
                        "author": author,
                        "year": year,
                        "publisher": publisher,
                        "price_cents": 599 + 100 * (n % 9),
                        "stock": 20,
                    }
                )
            if len(rows) >= kings + len(OTHERS) + 5:
                break
    path = out / "catalog.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


async def load(data_dir: Path) -> dict[str, object]:
    from memory.commerce.importer import import_books
    from memory.settings import Settings
    from tools.deps import Deps, use
    from tools.knowledge import ingest_paths

    settings = Settings()
    if settings.database_url is None:  # manual runs: the app's own embedded PostgreSQL under LIBROMIND_HOME
        from memory.home import ensure_home

        ensure_home(settings.home)
    deps = await Deps.build(settings)
    use(deps)
    try:
        docs = data_dir / "docs"
        target = docs / "perl-policy.html"
        if not target.exists():
            shutil.copytree(REPO / "data" / "docs" / "debian-policy" / "perl-policy.html", target)
        ingested = await ingest_paths([docs], "public")
        report = await import_books(deps.db, make_catalog(data_dir))
        return {"docs": {k: v for k, v in ingested.items() if k != "documents"}, "books": report.inserted}
    finally:
        await deps.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    summary = asyncio.run(load(args.data_dir))
    print("LOADED", json.dumps(summary, default=str), flush=True)

    import uvicorn

    from channels.web.app import create_app
    from memory.settings import Settings

    app = create_app(Settings())
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)
    print("READY", flush=True)
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
