"""Bytes -> ParsedDocument: type detection by content, then one reader per format.

Pure functions, no I/O besides the bytes given. Every refusal is a :class:`ParseError` with a stable
code (see errors.py). Supported: PDF (pypdfium2, outline -> section trail, 1-based pages), DOCX
(python-docx, Heading styles -> trail), HTML (main content only, h1..h6 -> trail), Markdown
(markdown-it-py, headings -> trail, front matter), plain UTF-8 text.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from .errors import (
    CorruptDocument,
    CorruptPdf,
    EmptyDocument,
    EncryptedPdf,
    InvalidEncoding,
    NoContent,
    NoTextLayer,
    TooLarge,
    TypeMismatch,
    UnsupportedType,
    ZipBomb,
)

__all__ = [
    "ParseLimits",
    "Section",
    "ParsedDocument",
    "parse",
    "content_hash",
    "detect_type",
    "MIME_TYPES",
]

MB = 1024 * 1024
MIME_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}
TEXT_EXTS = {
    ".txt",
    ".text",
    ".md",
    ".markdown",
    ".mdown",
    ".mkd",
    ".html",
    ".htm",
    ".xhtml",
    ".rst",
    ".csv",
    ".log",
}
MD_EXTS = {".md", ".markdown", ".mdown", ".mkd"}
HTML_EXTS = {".html", ".htm", ".xhtml"}
_PDFIUM_LOCK = threading.Lock()  # PDFium is not thread-safe; workers may parse from threads.


@dataclass(frozen=True)
class ParseLimits:
    max_bytes: int = 100 * MB
    max_uncompressed_bytes: int = 100 * MB  # DOCX: sum of member sizes from the central directory
    max_compression_ratio: float = 100.0  # DOCX: whole archive, and any member >= 1 MiB
    max_zip_members: int = 10_000
    max_pages: int = 5_000


@dataclass
class Section:
    path: list[str]  # heading trail, outermost first; [] before the first heading
    text: str
    page: int | None = None  # 1-based, PDFs only


@dataclass
class ParsedDocument:
    title: str | None
    author: str | None
    date: str | None  # ISO 8601 when known
    page_count: int | None
    mime: str
    sections: list[Section] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of the raw bytes (re-ingesting unchanged bytes can be skipped)."""
    return hashlib.sha256(data).hexdigest()


def parse(data: bytes, filename: str, *, limits: ParseLimits = ParseLimits()) -> ParsedDocument:
    """Parse an uploaded file; raise a ParseError subclass with a stable code when it cannot be used."""
    if len(data) > limits.max_bytes:  # before touching the content
        raise TooLarge(
            f"The file is {len(data) / MB:.1f} MB, which is over the {limits.max_bytes / MB:.0f} MB "
            "limit. Split it into smaller files and upload them separately."
        )
    data = bytes(data)
    kind = detect_type(data, filename, limits=limits)
    reader = {
        "pdf": _parse_pdf,
        "docx": _parse_docx,
        "html": _parse_html,
        "markdown": _parse_markdown,
        "text": _parse_text,
    }[kind]
    doc = reader(data, limits)
    doc.sections = [s for s in doc.sections if s.text.strip()]
    if not doc.sections:
        raise NoContent(f"“{PurePath(filename).name}” contains no readable text.")
    return doc


# ---------------------------------------------------------------- detection


def detect_type(data: bytes, filename: str, *, limits: ParseLimits = ParseLimits()) -> str:
    """Return 'pdf' | 'docx' | 'html' | 'markdown' | 'text' from the content; refuse mismatches."""
    if not data or data.isspace():
        raise EmptyDocument()
    name = PurePath(filename).name
    ext = PurePath(filename).suffix.lower()
    at = data[:1024].find(b"%PDF-")  # PDF readers accept junk before the header, but text may quote it
    if at != -1 and (ext == ".pdf" or not data[:at].strip()):
        if ext and ext != ".pdf":
            raise TypeMismatch(
                f"“{name}” is named as a {ext} file but contains a PDF document. "
                "Rename it to .pdf and upload it again."
            )
        return "pdf"
    if ext == ".pdf":
        raise TypeMismatch(f"“{name}” is named as a PDF but its content is not a PDF document.")
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        names = _check_zip(data, limits)
        if "word/document.xml" in names:
            if ext in TEXT_EXTS:
                raise TypeMismatch(f"“{name}” is named as a {ext} file but contains a Word document.")
            return "docx"
        if ext == ".docx":
            raise TypeMismatch(f"“{name}” is named as a Word document but is a ZIP archive without one.")
        raise UnsupportedType(
            f"“{name}” is a ZIP archive, which is not supported. Upload the documents inside it one by one."
        )
    if ext == ".docx":
        raise TypeMismatch(f"“{name}” is named as a Word document but its content is not one.")
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise UnsupportedType(
            f"“{name}” is a legacy Microsoft Office file (.doc/.xls/.ppt). Save it as "
            ".docx or PDF and upload it again."
        )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InvalidEncoding(f"“{name}” is encoded as UTF-16. Save it as UTF-8 and upload it again.")
    if _looks_binary(data[:8192]):
        import filetype

        guess = filetype.guess(data[:8192])
        what = f"{guess.mime} data" if guess else "binary data"
        if ext in TEXT_EXTS:
            raise TypeMismatch(f"“{name}” is named as a {ext} text file but contains {what}, not text.")
        raise UnsupportedType(
            f"“{name}” contains {what}, which is not a supported document type. Upload "
            "a PDF, Word (.docx), HTML, Markdown or plain-text file."
        )
    text = _decode(data, f"“{name}”")
    if ext in HTML_EXTS or _HTML_START.match(text[:4096]):
        return "html"
    if ext in MD_EXTS:
        return "markdown"
    if ext not in TEXT_EXTS and _TAGS.search(text[:4096]):
        return "html"
    if ext not in TEXT_EXTS and _MD_HINTS.search(text[:65536]):
        return "markdown"
    return "text"


_HTML_START = re.compile(
    r"\A(\ufeff)?\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S
)
_TAGS = re.compile(r"<(div|p|h[1-6]|table|article|section|span|ul)\b[^>]*>.*?</\1>", re.I | re.S)
_MD_HINTS = re.compile(r"\A---[ \t]*\n|^#{1,6}[ \t]+\S|^```|^\S.*\n(=+|-+)[ \t]*$", re.M)
_BINARY_CTRL = set(range(32)) - {8, 9, 10, 12, 13, 27}


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    ctrl = sum(1 for b in head if b in _BINARY_CTRL)
    return ctrl > 0.02 * max(len(head), 1)


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidEncoding(
            f"{label} is not valid UTF-8 text (first invalid byte at position "
            f"{exc.start}). Save it with UTF-8 encoding and upload it again."
        ) from None


def _check_zip(data: bytes, limits: ParseLimits) -> set[str]:
    """Read only the central directory and refuse archives that would expand too much."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise CorruptDocument(
            "The file looks like a Word/ZIP file but is damaged and cannot be opened."
        ) from None
    if len(infos) > limits.max_zip_members:
        raise ZipBomb(
            f"The archive holds {len(infos)} files, more than the {limits.max_zip_members} allowed, "
            "so it was refused for safety."
        )
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise ZipBomb(
            f"The Word file would expand to {total / MB:.0f} MB, more than the "
            f"{limits.max_uncompressed_bytes / MB:.0f} MB allowed, so it was refused for safety."
        )
    worst = max(
        (i for i in infos if i.file_size >= MB),
        key=lambda i: i.file_size / max(i.compress_size, 1),
        default=None,
    )
    ratios = [total / max(packed, 1) if total >= MB else 0.0]
    if worst is not None:
        ratios.append(worst.file_size / max(worst.compress_size, 1))
    if max(ratios) > limits.max_compression_ratio:
        raise ZipBomb(
            f"The Word file is compressed {max(ratios):.0f} times (more than "
            f"{limits.max_compression_ratio:.0f} is allowed), which is typical of a zip bomb, so "
            "it was refused for safety."
        )
    return {i.filename for i in infos}


# ---------------------------------------------------------------- text helpers

_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe\uffff]")
_LIGATURES = re.compile("[\ufb00-\ufb06]")


def _tidy(text: str) -> str:
    """Normalise newlines and Unicode, drop control characters, trailing spaces and extra blank lines."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CTRL.sub("", _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text))
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _push(trail: list[tuple[int, str]], level: int, title: str) -> list[str]:
    while trail and trail[-1][0] >= level:
        trail.pop()
    trail.append((level, title))
    return [t for _, t in trail]


def _iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None and hasattr(dt, "isoformat") else (str(dt) if dt else None)


# ---------------------------------------------------------------- PDF

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


def _parse_pdf(data: bytes, limits: ParseLimits) -> ParsedDocument:
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
            return _read_pdf(pdf, limits)
        finally:
            pdf.close()


def _read_pdf(pdf: Any, limits: ParseLimits) -> ParsedDocument:
    n = len(pdf)
    if n > limits.max_pages:
        raise TooLarge(f"The PDF has {n} pages, more than the {limits.max_pages} allowed.")
    meta = pdf.get_metadata_dict(skip_empty=True)
    marks: dict[int, list[tuple[float | None, list[str]]]] = {}  # page index -> [(y, trail)]
    trail: list[tuple[int, str]] = []
    for i, bm in enumerate(pdf.get_toc(max_depth=15)):
        if i >= 20_000:
            break
        title = _squash(bm.get_title() or "")
        dest = bm.get_dest()
        idx = dest.get_index() if dest is not None else None
        if not title:
            continue
        path = _push(trail, bm.level, title)
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
            text = _tidy(raw)
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
    doc_title: str | None = _squash(meta.get("Title", "")) or None
    if doc_title is None and sections:  # first outline entry, else a first line that reads like a title
        first: str = sections[0].path[0] if sections[0].path else _squash(first_line)
        doc_title = first if len(first) <= 150 and len(first.split()) >= 2 else None
    return ParsedDocument(
        title=doc_title,
        author=_squash(meta.get("Author", "")) or None,
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
        return re.sub(r"\d+", "#", _squash(line))

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


# ---------------------------------------------------------------- DOCX

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def _heading_level(paragraph: Any) -> int | None:
    style = paragraph.style
    for _ in range(4):
        if style is None:
            return None
        name = style.name or ""
        m = _HEADING_STYLE.match(name)
        if m:
            return int(m.group(1))
        if name.lower() == "title":
            return 0
        style = style.base_style
    return None


def _parse_docx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    import docx
    from docx.table import Table

    _check_zip(data, limits)  # again: parse() may be called with bytes detect_type never saw
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError/ValueError/lxml errors on broken parts
        raise CorruptDocument(
            f"The Word document is damaged and cannot be opened ({type(exc).__name__})."
        ) from None
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    path: list[str] = []
    buf: list[str] = []
    doc_title: str | None = None

    def flush() -> None:
        text = _tidy("\n\n".join(buf))
        if text:
            sections.append(Section(path=list(path), text=text))
        buf.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    t = _squash(cell.text)
                    if t and (not cells or cells[-1] != t):  # merged cells repeat
                        cells.append(t)
                if cells:
                    rows.append(" | ".join(cells))
            buf.append("\n".join(rows))
            continue
        text = block.text
        level = _heading_level(block) if text.strip() else None
        if level is None:
            buf.append(text)
        elif level == 0:
            doc_title = doc_title or _squash(text)
        else:
            flush()
            path = _push(trail, level, _squash(text))
    flush()
    props = document.core_properties
    return ParsedDocument(
        title=_squash(props.title or "") or doc_title,
        author=_squash(props.author or "") or None,
        date=_iso(props.created),
        page_count=None,
        mime=MIME_TYPES["docx"],
        sections=sections,
    )


# ---------------------------------------------------------------- HTML

_DROP = [
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "object",
    "embed",
    "svg",
    "canvas",
    "nav",
    "aside",
    "form",
    "button",
    "select",
    "footer",
    "link",
    "meta",
]
_BLOCK = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "figure",
    "figcaption",
    "address",
    "hr",
    "details",
    "summary",
    "caption",
    "tr",
    "body",
}
_DROP_ROLES = {"navigation", "banner", "contentinfo", "search"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def _html_decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        m = re.search(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.I)
        if m and m.group(1).lower() not in (b"utf-8", b"utf8"):
            try:
                return data.decode(m.group(1).decode("ascii"))
            except (LookupError, UnicodeDecodeError):
                pass
        raise InvalidEncoding(
            f"The HTML page is not valid UTF-8 (first invalid byte at position {exc.start}) "
            "and declares no usable character set."
        ) from None


def _parse_html(data: bytes, limits: ParseLimits) -> ParsedDocument:
    from bs4 import (
        BeautifulSoup,
        Comment,
        Declaration,
        Doctype,
        NavigableString,
        ProcessingInstruction,
        Tag,
        XMLParsedAsHTMLWarning,
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup: Any = BeautifulSoup(_html_decode(data), "lxml")
    title = _squash(soup.title.get_text()) if soup.title else None
    meta: dict[str, str] = {}
    for m in soup.find_all("meta"):
        key, content = m.get("name") or m.get("property"), m.get("content")
        if isinstance(key, str) and isinstance(content, str):
            meta[key.lower()] = content
    author = meta.get("author")
    date = next(
        (meta[k] for k in ("date", "dcterms.date", "dc.date", "article:published_time") if meta.get(k)), None
    )
    main: Any = (
        soup.find(attrs={"role": "main"}) or soup.find("main") or soup.find("article") or soup.body or soup
    )
    drop = set(_DROP) | (set() if main.name in ("main", "article") or main.get("role") else {"header"})
    for tag in main.find_all(True):
        if tag.decomposed:
            continue
        if (
            tag.name in drop
            or tag.get("role") in _DROP_ROLES
            or tag.has_attr("hidden")
            or tag.get("aria-hidden") == "true"
            or (tag.name == "a" and "headerlink" in tag.get("class", ()))
        ):
            tag.decompose()
    skip = (Comment, Declaration, Doctype, ProcessingInstruction)
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    path: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        text = _tidy("".join(buf))
        if text:
            sections.append(Section(path=list(path), text=text))
        buf.clear()

    stack: list[tuple[Any, bool]] = [(main, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            buf.append("\n\n")
            continue
        if isinstance(node, NavigableString):
            if not isinstance(node, skip):
                buf.append(re.sub(r"\s+", " ", str(node)))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if name in _HEADINGS:
            heading = _squash(node.get_text("").replace("¶", ""))
            if heading:
                flush()
                path = _push(trail, int(name[1]), heading)
            continue
        if name == "br":
            buf.append("\n")
        elif name == "pre":
            buf.append("\n\n" + node.get_text("") + "\n\n")
        elif name == "table":
            rows = [
                " | ".join(_squash(c.get_text(" ")) for c in tr.find_all(["td", "th"]))
                for tr in node.find_all("tr")
            ]
            buf.append("\n\n" + "\n".join(r for r in rows if r.strip(" |")) + "\n\n")
        else:
            if name in _BLOCK:
                buf.append("\n\n")
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
    flush()
    if not sections:
        raise NoContent(
            "The HTML page has no readable text: it contains only scripts, styles, navigation or "
            "other non-content elements."
        )
    first_h1 = main.find("h1") if title is None else None
    title = title or (_squash(first_h1.get_text("").replace("¶", "")) if first_h1 else None)
    return ParsedDocument(
        title=title or None,
        author=author,
        date=date,
        page_count=None,
        mime=MIME_TYPES["html"],
        sections=sections,
    )


# ---------------------------------------------------------------- Markdown

_FRONT = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    m = _FRONT.match(text)
    if not m:
        return {}, text
    fields: dict[str, str] = {}
    for line in m.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key[0].isspace():
            fields[key.strip().lower()] = value.strip().strip("\"'")
    return fields, text[m.end() :]


def _inline_text(token: Any) -> str:
    out = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "image"):
            out.append(child.content)
        elif child.type == "softbreak":
            out.append(" ")
        elif child.type == "hardbreak":
            out.append("\n")
    return "".join(out)


def _parse_markdown(data: bytes, limits: ParseLimits) -> ParsedDocument:
    from markdown_it import MarkdownIt

    fields, body = _front_matter(_decode(data, "The Markdown file").replace("\r\n", "\n"))
    tokens = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).parse(body)
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    path: list[str] = []
    buf: list[str] = []
    first_h1: str | None = None
    in_heading = False

    def flush() -> None:
        text = _tidy("".join(buf))
        if text:
            sections.append(Section(path=list(path), text=text))
        buf.clear()

    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind == "heading_open":
            in_heading = True
            heading = _squash(_inline_text(tokens[i + 1])) if i + 1 < len(tokens) else ""
            if heading:
                flush()
                path = _push(trail, int(tok.tag[1]), heading)
                if tok.tag == "h1" and first_h1 is None:
                    first_h1 = heading
        elif kind == "heading_close":
            in_heading = False
        elif kind == "inline" and not in_heading:
            buf.append(_inline_text(tok))
        elif kind in ("fence", "code_block"):
            buf.append("\n\n" + tok.content + "\n\n")
        elif kind == "html_block":
            buf.append("\n\n" + re.sub(r"<[^>]+>", " ", tok.content) + "\n\n")
        elif kind in ("th_close", "td_close"):
            buf.append(" | ")
        elif kind == "tr_close":
            buf.append("\n")
        elif kind in ("paragraph_close", "list_item_close", "table_close", "hr", "blockquote_close"):
            buf.append("\n\n")
    flush()
    return ParsedDocument(
        title=fields.get("title") or first_h1,
        author=fields.get("author") or None,
        date=fields.get("date") or None,
        page_count=None,
        mime=MIME_TYPES["markdown"],
        sections=sections,
    )


# ---------------------------------------------------------------- plain text


def _parse_text(data: bytes, limits: ParseLimits) -> ParsedDocument:
    text = _tidy(_decode(data, "The text file"))
    return ParsedDocument(
        title=None,
        author=None,
        date=None,
        page_count=None,
        mime=MIME_TYPES["text"],
        sections=[Section(path=[], text=text)] if text else [],
    )
