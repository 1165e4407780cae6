"""Streamed catalog and ratings import (CSV, JSONL and the Book-Crossing ``bx`` format).

Rows are parsed and cleaned in a worker thread and streamed with COPY into a temporary staging table,
then upserted by ISBN-13 in one statement. Rejected rows are counted by reason, with examples.
Missing prices/stock get deterministic demo values (a hash of the ISBN) and the row is flagged ``demo``.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import html
import io
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from memory.commerce import BadRequest
from memory.commerce.catalog import isbn13_to_10, normalize_isbn

__all__ = [
    "Format",
    "ImportReport",
    "Progress",
    "clean_text",
    "demo_price_stock",
    "detect_format",
    "import_books",
    "open_text",
    "refresh_hot",
]

log = logging.getLogger(__name__)
Format = Literal["auto", "csv", "jsonl", "bx"]
Progress = Callable[[str, int, int], None]
BATCH = 20_000
MAX_EXAMPLES = 100
BX_BOOK_COLS = 8

_THIS_YEAR = date.today().year
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class ImportReport:
    kind: str
    format: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def reject(self, line: int, isbn: str, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"line": line, "isbn": isbn, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": self.format,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "reasons": dict(self.reasons.most_common()),
            "repaired": dict(self.repaired.most_common()),
            "examples": self.examples,
            "seconds": round(self.seconds, 2),
        }


def demo_price_stock(isbn13: str) -> tuple[int, int]:
    """Deterministic demo price ($4.99-$34.99, integer cents) and stock (0-12) from the ISBN."""
    h = int.from_bytes(hashlib.blake2b(isbn13.encode(), digest_size=8).digest(), "big")
    return 499 + (h % 31) * 100, (h >> 20) % 13


def clean_text(value: Any, repaired: Counter[str] | None = None) -> str:
    """Decode HTML entities, repair UTF-8-read-as-Latin-1, drop control chars and stray quotes."""
    if value is None:
        return ""
    s = value if isinstance(value, str) else str(value)
    if s.isascii() and s.isprintable() and "&" not in s and '"' not in s and "  " not in s:
        return s.strip()
    if "&" in s:
        for _ in range(2):
            t = html.unescape(s)
            if t == s:
                break
            if repaired is not None:
                repaired["html_entities"] += 1
            s = t
    if "Ã" in s or "Â" in s:
        try:
            t = s.encode("latin-1").decode("utf-8")
            if repaired is not None:
                repaired["mojibake"] += 1
            s = t
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    if not s.isprintable():
        s = _CTRL.sub(" ", s)
    s = " ".join(s.split())
    if s.count('"') % 2 == 1:
        if s.endswith('"'):
            s = s[:-1].rstrip()
        elif s.startswith('"'):
            s = s[1:].lstrip()
        if repaired is not None:
            repaired["stray_quote"] += 1
    return s


def _cents(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("bad price")
    if isinstance(value, int):
        return value * 100
    text = str(value).strip().replace("$", "").replace(",", "")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError("bad price") from None
    if d < 0:
        raise ValueError("negative price")
    cents = d * 100
    if cents != cents.to_integral_value():
        raise ValueError("price has more than 2 decimals")
    return int(cents)


def _genres(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else re.split(r"[|;,]", str(value))
    return [g for g in (clean_text(x).lower() for x in items) if g][:20]


def _pg_array(items: list[str]) -> str:
    return "{" + ",".join('"' + g.replace("\\", "\\\\").replace('"', '\\"') + '"' for g in items) + "}"


def _clean(raw: dict[str, Any], report: ImportReport, line: int, lenient: bool) -> tuple | None:
    """One raw record -> staging tuple, or None after recording the rejection."""
    isbn_raw = str(raw.get("isbn") or "").strip()
    try:
        isbn13 = normalize_isbn(isbn_raw)
    except BadRequest as exc:
        reason = "bad ISBN check digit" if "check digit" in exc.message else "invalid ISBN"
        report.reject(line, isbn_raw, "missing ISBN" if not isbn_raw else reason)
        return None
    title = clean_text(raw.get("title"), report.repaired)
    if not title:
        report.reject(line, isbn_raw, "missing title")
        return None
    year: int | None = None
    y = raw.get("year")
    if y not in (None, ""):
        try:
            year = int(str(y).strip())
        except ValueError:
            report.reject(line, isbn_raw, "bad year")
            return None
        if year == 0 or year > _THIS_YEAR or year < 1000:
            if not lenient:
                report.reject(line, isbn_raw, "year 0 or in the future" if year >= 0 else "bad year")
                return None
            report.repaired["unknown_year"] += 1
            year = None
    demo = False
    try:
        if raw.get("price_cents") not in (None, ""):
            price = int(raw["price_cents"])
            if price < 0:
                raise ValueError("negative price")
        elif raw.get("price") not in (None, ""):
            price = _cents(raw["price"])
        else:
            price, demo = -1, True
    except (ValueError, TypeError) as exc:
        report.reject(line, isbn_raw, str(exc) if "price" in str(exc) else "bad price")
        return None
    stock_raw = raw.get("stock")
    if stock_raw in (None, ""):
        stock, demo = -1, True
    else:
        try:
            stock = int(str(stock_raw).strip())
        except ValueError:
            report.reject(line, isbn_raw, "bad stock")
            return None
        if stock < 0:
            report.reject(line, isbn_raw, "negative stock")
            return None
    if demo:
        dp, ds = demo_price_stock(isbn13)
        price = dp if price < 0 else price
        stock = ds if stock < 0 else stock
    cover = clean_text(raw.get("cover_url")) or None
    return (
        isbn13,
        isbn13_to_10(isbn13),
        title[:1000],
        clean_text(raw.get("author"), report.repaired)[:500],
        year,
        clean_text(raw.get("publisher"), report.repaired)[:500],
        clean_text(raw.get("description"))[:20000],
        _pg_array(_genres(raw["genres"])) if raw.get("genres") else "{}",
        price,
        stock,
        cover,
        demo,
    )


def open_text(path: Path, encoding: str) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")  # type: ignore[return-value]
    return open(path, encoding=encoding, newline="")  # noqa: SIM115


def detect_format(path: Path) -> Literal["csv", "jsonl", "bx"]:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    with open_text(path, "latin-1") as fh:
        head = fh.readline()
    if '"Book-Title"' in head or '"Book-Rating"' in head or head.startswith('"User-ID"'):
        return "bx"
    return "csv"


def _bx_reader(fh: io.TextIOBase) -> Iterator[list[str]]:
    return csv.reader(fh, delimiter=";", quotechar='"', escapechar="\\", doublequote=False)


def _records(path: Path, fmt: str, report: ImportReport) -> Iterator[tuple[int, dict[str, Any]]]:
    if fmt == "bx":
        with open_text(path, "latin-1") as fh:
            rows = _bx_reader(fh)
            next(rows, None)
            for n, row in enumerate(rows, start=2):
                if len(row) > BX_BOOK_COLS:  # a ';' inside an unescaped title shifted the columns
                    row = [row[0], ";".join(row[1 : len(row) - 6]), *row[len(row) - 6 :]]
                    report.repaired["shifted_columns"] += 1
                if len(row) != BX_BOOK_COLS or not row[3].strip().isdigit():
                    report.read += 1
                    report.reject(n, row[0] if row else "", "shifted columns")
                    continue
                yield (
                    n,
                    {
                        "isbn": row[0],
                        "title": row[1],
                        "author": row[2],
                        "year": row[3],
                        "publisher": row[4],
                        "cover_url": row[7] or row[6] or row[5],
                    },
                )
    elif fmt == "csv":
        with open_text(path, "utf-8-sig") as fh:
            sample = fh.read(4096)
            fh.seek(0)
            try:
                dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.DictReader(fh, dialect=dialect, restkey="__extra__")
            if reader.fieldnames:
                reader.fieldnames = [
                    f.strip().lower().replace("-", "_").replace(" ", "_") for f in reader.fieldnames
                ]
            for n, rec in enumerate(reader, start=2):
                if rec.get("__extra__") or (len(reader.fieldnames or []) > 1 and None in rec.values()):
                    report.read += 1
                    report.reject(n, str(rec.get("isbn") or ""), "shifted columns")
                    continue
                yield n, rec
    else:
        with open_text(path, "utf-8-sig") as fh:
            for n, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    rec = json.loads(text)
                except json.JSONDecodeError:
                    rec = None
                if not isinstance(rec, dict):
                    report.read += 1
                    report.reject(n, "", "invalid JSON")
                    continue
                yield n, {str(k).lower(): v for k, v in rec.items()}


def _esc(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _chunks(
    rows: Iterator[tuple], report: ImportReport, extra: str | None = None
) -> Iterator[tuple[bytes, int]]:
    buf: list[str] = []
    tail = "\t" + _esc(extra) if extra is not None else ""
    for row in rows:
        buf.append("\t".join(_esc(v) for v in row) + tail)
        if len(buf) >= BATCH:
            yield ("\n".join(buf) + "\n").encode(), report.read
            buf = []
    if buf:
        yield ("\n".join(buf) + "\n").encode(), report.read


async def _copy_in_thread(
    conn: Any,
    copy_sql: str,
    chunks: Iterator[tuple[bytes, int]],
    progress: Progress | None,
    stage: str,
    expected: int,
) -> None:
    done = object()
    async with conn.cursor() as cur, cur.copy(copy_sql) as cp:
        while True:
            item: Any = await asyncio.to_thread(next, chunks, done)
            if item is done:
                break
            data, n = item
            await cp.write(data)
            if progress:
                progress(stage, n, max(expected, n))


_COLS = (
    "isbn13, isbn10, title, author, year, publisher, description, genres, price_cents, stock, cover_url, demo"
)
_STAGE_BOOKS = (
    "CREATE TEMP TABLE stage_books (isbn13 text, isbn10 text, title text, author text, year int,"
    " publisher text, description text, genres text[], price_cents int, stock int, cover_url text,"
    " demo boolean) ON COMMIT DROP"
)
_UPSERT_BOOKS = f"""
WITH up AS (
    INSERT INTO books AS b ({_COLS}, source)
    SELECT {_COLS}, %(source)s FROM stage_books
    ON CONFLICT (isbn13) DO UPDATE SET
        title = excluded.title, author = excluded.author, year = excluded.year,
        publisher = excluded.publisher,
        description = CASE WHEN excluded.description = '' THEN b.description ELSE excluded.description END,
        genres = CASE WHEN excluded.genres = '{{}}' THEN b.genres ELSE excluded.genres END,
        price_cents = CASE WHEN excluded.demo THEN b.price_cents ELSE excluded.price_cents END,
        stock = CASE WHEN excluded.demo THEN b.stock ELSE excluded.stock END,
        cover_url = coalesce(excluded.cover_url, b.cover_url),
        demo = CASE WHEN excluded.demo THEN b.demo ELSE false END,
        updated_at = now()
    WHERE (b.title, b.author, b.year, b.publisher, b.cover_url) IS DISTINCT FROM
          (excluded.title, excluded.author, excluded.year, excluded.publisher, excluded.cover_url)
       OR (NOT excluded.demo AND (b.price_cents, b.stock, b.demo) IS DISTINCT FROM
                                 (excluded.price_cents, excluded.stock, false))
       OR (excluded.description <> '' AND excluded.description <> b.description)
       OR (excluded.genres <> '{{}}' AND excluded.genres <> b.genres)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM up
"""

# Must match memory/migrations/0020_commerce.sql exactly.
_TRGM_INDEXES = (
    (
        "books_title_trgm",
        "CREATE INDEX IF NOT EXISTS books_title_trgm ON books USING gin (title gin_trgm_ops)",
    ),
    (
        "books_author_trgm",
        "CREATE INDEX IF NOT EXISTS books_author_trgm ON books USING gin (author gin_trgm_ops)",
    ),
    ("books_title_lower", "CREATE INDEX IF NOT EXISTS books_title_lower ON books (lower(title))"),
)


async def import_books(
    db: Any,
    path: Path | str,
    fmt: Format = "auto",
    *,
    progress: Progress | None = None,
    source: str | None = None,
    expected_rows: int = 0,
) -> ImportReport:
    """Stream a catalog file into ``books`` (upsert by ISBN-13); return what happened.

    The first row of an ISBN in a file wins (later duplicates are reported). Into an empty catalog the
    rows are COPYed straight into ``books`` and the trigram indexes are built once at the end.
    """
    path = Path(path)
    if not path.is_file():
        raise BadRequest(f"No such file: {path}")
    real = detect_format(path) if fmt == "auto" else fmt
    report = ImportReport(kind="books", format=real)
    t0 = time.perf_counter()
    lenient = real == "bx"
    timings: dict[str, float] = {}
    seen: set[str] = set()

    def rows() -> Iterator[tuple]:
        for n, rec in _records(path, real, report):
            report.read += 1
            out = _clean(rec, report, n, lenient)
            if out is None:
                continue
            if out[0] in seen:
                report.reject(n, str(rec.get("isbn") or ""), "duplicate ISBN in file (first row kept)")
                continue
            seen.add(out[0])
            yield out

    async with db.pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL work_mem = '64MB'")
        await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cur = await conn.execute("SELECT NOT EXISTS (SELECT 1 FROM books) AS empty")
        bulk = bool((await cur.fetchone())["empty"])
        if bulk:  # first load: build the trigram indexes once instead of maintaining them per row
            await conn.execute("LOCK TABLE books IN SHARE ROW EXCLUSIVE MODE")
            for name, _ in _TRGM_INDEXES:
                await conn.execute(f"DROP INDEX IF EXISTS {name}")
        else:
            await conn.execute(_STAGE_BOOKS)
        target = "books" if bulk else "stage_books"
        await _copy_in_thread(
            conn,
            f"COPY {target} ({_COLS}{', source' if bulk else ''}) FROM STDIN",
            _chunks(rows(), report, source or real if bulk else None),
            progress,
            "books",
            expected_rows,
        )
        timings["copy"] = time.perf_counter() - t0
        if bulk:
            report.inserted = len(seen)
            for _, ddl in _TRGM_INDEXES:
                await conn.execute(ddl)
            timings["index"] = time.perf_counter() - t0 - timings["copy"]
        else:
            await conn.execute("ANALYZE stage_books")
            # Stale embeddings: the embedded text (title, author, publisher) changed.
            await conn.execute(
                "DELETE FROM book_embeddings e USING stage_books s, books b"
                " WHERE e.isbn13 = s.isbn13 AND b.isbn13 = s.isbn13"
                " AND (b.title, b.author, b.publisher) IS DISTINCT FROM (s.title, s.author, s.publisher)"
            )
            cur = await conn.execute(_UPSERT_BOOKS, {"source": source or real})
            counts = await cur.fetchone()
            report.inserted, report.updated = int(counts["inserted"]), int(counts["updated"])
            if report.updated:
                await refresh_hot(conn)
            timings["upsert"] = time.perf_counter() - t0 - timings["copy"]
    if bulk:
        await db.execute("ANALYZE books")
    report.unchanged = len(seen) - report.inserted - report.updated
    report.seconds = time.perf_counter() - t0
    log.info("catalog import phases (s): %s", {k: round(v, 2) for k, v in timings.items()})
    if progress:
        progress("books", report.read, report.read)
    log.info("catalog import: %s", {k: v for k, v in report.to_dict().items() if k != "examples"})
    return report


HOT_BOOKS = 20_000


async def refresh_hot(conn: Any, n: int = HOT_BOOKS) -> None:
    """Rebuild book_search_hot: the ``n`` most-rated books (searched first)."""
    await conn.execute("TRUNCATE book_search_hot")
    await conn.execute(
        "INSERT INTO book_search_hot (isbn13, title, author, pop)"
        " SELECT b.isbn13, b.title, b.author, s.rating_count FROM book_stats s"
        " JOIN books b ON b.isbn13 = s.isbn13 ORDER BY s.rating_count DESC, s.isbn13 LIMIT %s",
        (n,),
    )
    await conn.execute("ANALYZE book_search_hot")
