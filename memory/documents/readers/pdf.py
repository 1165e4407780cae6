"""PDF reader (pypdfium2): outline -> section trail, 1-based pages, running headers/footers dropped."""

from __future__ import annotations

import re
import threading
from typing import Any

from ..errors import CorruptPdf, EncryptedPdf, NoTextLayer, TooLarge
from ..parse import MIME_TYPES, ParsedDocument, ParseLimits, Section
from .text import push_trail, squash, tidy

__all__ = ["read_pdf"]

_PDFIUM_LOCK = threading.Lock()  # PDFium is not thread-safe; workers may parse from threads.
_PDF_DATE = re.compile(r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+-])?(\d{2})?'?(\d{2})?")


def _pdf_date(raw: str) -> str | None:
    m = _PDF_DATE.match(raw or "")
    if not m:
        return None
    y, mo, d, h, mi, s, tz, tzh, tzm = m.groups()
    out = f"{y}-{mo or '01'}-{d or '01'}"
    if h:
        out += f"T{h}:{mi or '00'}:{s or '00'}"
        if tz in ("Z", "z"):
            out += "+00:00"
        elif tz:
            out += f"{tz}{tzh or '00'}:{tzm or '00'}"
    return out


_LEADERS = re.compile(r"(?:[ \t]?\.){4,}[ \t]?")  # table-of-contents dot leaders


def _pdf_text(raw: str) -> str:
    raw = re.sub(r"(\w)\ufffe(\w)", _soft_hyphen, raw).replace("\r\n", "\n")
    return _LEADERS.sub(" … ", raw)


def _soft_hyphen(m: re.Match[str]) -> str:  # PDFium marks hyphenation at line ends with U+FFFE
    a, b = m.group(1), m.group(2)
    return f"{a}-{b}" if a.isupper() and b.isupper() else a + b


def read_pdf(data: bytes, limits: ParseLimits) -> ParsedDocument:
    import pypdfium2 as pdfium

    if b"%%EOF" not in data[-4096:]:
        raise CorruptPdf(
            "The PDF is incomplete: its end is missing (the file may have been cut off during "
            "upload or download). Upload the complete file again."
        )
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if exc.err_code == pdfium.raw.FPDF_ERR_PASSWORD:
                raise EncryptedPdf() from None
            raise CorruptPdf() from None
        try:
            return _read_opened(pdf, limits)
        finally:
            pdf.close()


def _read_opened(pdf: Any, limits: ParseLimits) -> ParsedDocument:
    n = len(pdf)
    if n > limits.max_pages:
        raise TooLarge(f"The PDF has {n} pages, more than the {limits.max_pages} allowed.")
    meta = pdf.get_metadata_dict(skip_empty=True)
    marks: dict[int, list[tuple[float | None, list[str]]]] = {}  # page index -> [(y, trail)]
    trail: list[tuple[int, str]] = []
    for i, bm in enumerate(pdf.get_toc(max_depth=15)):
        if i >= 20_000:
            break
        title = squash(bm.get_title() or "")
        dest = bm.get_dest()
        idx = dest.get_index() if dest is not None else None
        if not title:
            continue
        path = push_trail(trail, bm.level, title)
        if idx is not None and 0 <= idx < n:
            view = dest.get_view()[1] if dest is not None else []
            y = view[1] if len(view) >= 2 and view[1] else None
            marks.setdefault(idx, []).append((y, path))
    current: list[str] = []
    pages: list[list[tuple[list[str], str]]] = []
    for idx in range(n):
        page = pdf[idx]
        try:
            tp = page.get_textpage()
            left, bottom, right, top = page.get_bbox()
            bands: list[tuple[list[str], str]] = []
            here = sorted(marks.get(idx, []), key=lambda m: -(m[0] if m[0] is not None else top))
            upper = top
            for y, path in here:
                y = top if y is None else min(max(y, bottom), top)
                if y < upper:
                    bands.append((current, tp.get_text_bounded(left, y, right, upper)))
                    upper = y
                current = path
            bands.append(
                (
                    current,
                    tp.get_text_range() if not here else tp.get_text_bounded(left, bottom, right, upper),
                )
            )
            tp.close()
        finally:
            page.close()
        pages.append([(p, _pdf_text(raw)) for p, raw in bands])
    first_line = next(
        (ln.strip() for bands in pages for _, raw in bands for ln in raw.split("\n") if ln.strip()), ""
    )
    _strip_running_lines(pages)
    sections: list[Section] = []
    texted = 0
    for idx, bands in enumerate(pages):
        had_text = False
        for path, raw in bands:
            text = tidy(raw)
            if text:
                had_text = True
                sections.append(Section(path=list(path), text=text, page=idx + 1))
        texted += had_text
    if n and not texted:
        raise NoTextLayer(
            f"The PDF has {n} page{'s' if n != 1 else ''} but no extractable text: it is a "
            "scanned PDF (images of pages) and needs OCR (text recognition) before it can be "
            "added."
        )
    doc_title: str | None = squash(meta.get("Title", "")) or None
    if doc_title is None and sections:  # first outline entry, else a first line that reads like a title
        first: str = sections[0].path[0] if sections[0].path else squash(first_line)
        doc_title = first if len(first) <= 150 and len(first.split()) >= 2 else None
    return ParsedDocument(
        title=doc_title,
        author=squash(meta.get("Author", "")) or None,
        date=_pdf_date(meta.get("CreationDate", "")) or _pdf_date(meta.get("ModDate", "")),
        page_count=n,
        mime=MIME_TYPES["pdf"],
        sections=sections,
    )


_PAGE_NO = re.compile(r"^\W*(\d{1,4}|[ivxlcdm]{1,7})\W*$", re.I)


def _strip_running_lines(pages: list[list[tuple[list[str], str]]]) -> None:
    """Drop running headers/footers: edge lines repeated (digits ignored) on >= 3 pages; page numbers."""
    if len(pages) < 4:
        return

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", squash(line))

    edges: dict[str, int] = {}
    for bands in pages:
        if not bands:
            continue
        top_lines = [ln for ln in bands[0][1].split("\n") if ln.strip()][:2]
        bottom_lines = [ln for ln in bands[-1][1].split("\n") if ln.strip()][-2:]
        for ln in {key(x) for x in top_lines + bottom_lines}:
            edges[ln] = edges.get(ln, 0) + 1
    running = {k for k, c in edges.items() if c >= 3 and len(k) <= 120}

    def cut(lines: list[str], from_top: bool) -> list[str]:
        order = range(len(lines)) if from_top else range(len(lines) - 1, -1, -1)
        dropped = 0
        for i in order:
            if not lines[i].strip():
                continue
            if dropped < 2 and (key(lines[i]) in running or _PAGE_NO.match(lines[i])):
                lines[i] = ""
                dropped += 1
            else:
                break
        return lines

    for bands in pages:
        if not bands:
            continue
        path, raw = bands[0]
        bands[0] = (path, "\n".join(cut(raw.split("\n"), True)))
        path, raw = bands[-1]
        bands[-1] = (path, "\n".join(cut(raw.split("\n"), False)))
