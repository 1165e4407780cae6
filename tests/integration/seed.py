"""Small real seed data for channel tests: a few Debian Policy chapters (public), the internal demo
staff documents (internal) and the first rows of the Book-Crossing catalog (demo prices)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from tools.deps import Deps, use

REPO = Path(__file__).resolve().parents[2]
PUBLIC = [
    REPO / "data/docs/debian-policy/policy.html/ch-binary.html",
    REPO / "data/docs/debian-policy/policy.html/ch-maintainerscripts.html",
    REPO / "data/docs/debian-policy/policy.html/ch-sharedlibs.html",
]
INTERNAL_DIR = REPO / "evals/datasets/internal_docs"


def write_bx_subset(path: Path, rows: int = 400) -> Path:
    """The first ``rows`` books of BX-Books.csv.gz, in the original Latin-1 ';' format."""
    with gzip.open(REPO / "data/books/BX-Books.csv.gz", "rt", encoding="latin-1") as src:
        lines = [next(src) for _ in range(rows + 1)]
    path.write_text("".join(lines), encoding="latin-1")
    return path


async def seed_small(deps: Deps, tmp_path: Path, *, books: int = 400) -> dict[str, Any]:
    from memory.commerce.importer import import_books
    from tools.knowledge import ingest_paths

    use(deps)
    public = await ingest_paths(PUBLIC, "public")
    internal_files = sorted(p for p in INTERNAL_DIR.glob("*.md") if p.name.lower() != "readme.md")
    internal = await ingest_paths(internal_files, "internal")
    report = await import_books(deps.db, write_bx_subset(tmp_path / "bx-subset.csv", books), "bx")
    return {"public": public, "internal": internal, "books": report}
