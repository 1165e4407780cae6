"""Plain UTF-8 text reader, and the text helpers every reader shares."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ..parse import MIME_TYPES, ParsedDocument, ParseLimits, Section, decode_utf8

__all__ = ["read_text", "tidy", "squash", "push_trail", "iso_date"]

_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe\uffff]")
_LIGATURES = re.compile("[\ufb00-\ufb06]")


def tidy(text: str) -> str:
    """Normalise newlines and Unicode, drop control characters, trailing spaces and extra blank lines."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CTRL.sub("", _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text))
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def squash(text: str) -> str:
    """Collapse every whitespace run to one space."""
    return re.sub(r"\s+", " ", text).strip()


def push_trail(trail: list[tuple[int, str]], level: int, title: str) -> list[str]:
    """Enter a heading of ``level``: pop deeper-or-equal headings, return the new section path."""
    while trail and trail[-1][0] >= level:
        trail.pop()
    trail.append((level, title))
    return [t for _, t in trail]


def iso_date(dt: Any) -> str | None:
    """ISO 8601 text of a date/datetime (or its str), None when missing."""
    return dt.isoformat() if dt is not None and hasattr(dt, "isoformat") else (str(dt) if dt else None)


def read_text(data: bytes, limits: ParseLimits) -> ParsedDocument:
    text = tidy(decode_utf8(data, "The text file"))
    return ParsedDocument(
        title=None,
        author=None,
        date=None,
        page_count=None,
        mime=MIME_TYPES["text"],
        sections=[Section(path=[], text=text)] if text else [],
    )
