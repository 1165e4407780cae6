"""Bytes -> ParsedDocument: type detection by content, then one reader per format.

Pure functions, no I/O besides the bytes given. Every refusal is a :class:`ParseError` with a stable
code (see errors.py). Supported: PDF (pypdfium2, outline -> section trail, 1-based pages), DOCX
(python-docx, Heading styles -> trail), HTML (main content only, h1..h6 -> trail), Markdown
(markdown-it-py, headings -> trail, front matter), plain UTF-8 text. The format readers live in
:mod:`memory.documents.readers`; this module holds the document model, the limits, type detection and
the dispatch.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath

from .errors import (
    CorruptDocument,
    EmptyDocument,
    InvalidEncoding,
    NoContent,
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
    from .readers import READERS  # imported here: the readers import this module's model

    doc = READERS[kind](data, limits)
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
        names = check_zip(data, limits)
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
    text = decode_utf8(data, f"“{name}”")
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


def decode_utf8(data: bytes, label: str) -> str:
    """Decode UTF-8 (BOM allowed) or raise InvalidEncoding naming ``label`` (shared with the readers)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidEncoding(
            f"{label} is not valid UTF-8 text (first invalid byte at position "
            f"{exc.start}). Save it with UTF-8 encoding and upload it again."
        ) from None


def check_zip(data: bytes, limits: ParseLimits) -> set[str]:
    """Read only the central directory and refuse archives that would expand too much.

    Shared with the DOCX reader, which checks again: parse() may get bytes detect_type never saw.
    """
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
