"""DOCX reader (python-docx): Heading styles -> section trail, tables as ``a | b`` rows."""

from __future__ import annotations

import io
import re
from typing import Any

from ..errors import CorruptDocument
from ..parse import MIME_TYPES, ParsedDocument, ParseLimits, Section, check_zip
from .text import iso_date, push_trail, squash, tidy

__all__ = ["read_docx"]

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


def read_docx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    import docx
    from docx.table import Table

    check_zip(data, limits)  # again: parse() may be called with bytes detect_type never saw
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
        text = tidy("\n\n".join(buf))
        if text:
            sections.append(Section(path=list(path), text=text))
        buf.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    t = squash(cell.text)
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
            doc_title = doc_title or squash(text)
        else:
            flush()
            path = push_trail(trail, level, squash(text))
    flush()
    props = document.core_properties
    return ParsedDocument(
        title=squash(props.title or "") or doc_title,
        author=squash(props.author or "") or None,
        date=iso_date(props.created),
        page_count=None,
        mime=MIME_TYPES["docx"],
        sections=sections,
    )
