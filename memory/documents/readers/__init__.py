"""One reader per document format: ``read_<kind>(data, limits) -> ParsedDocument``.

``memory.documents.parse`` detects the kind from the content and dispatches through :data:`READERS`.
Readers may raise any :class:`~memory.documents.errors.ParseError`; empty sections are dropped by the
caller.
"""

from __future__ import annotations

from collections.abc import Callable

from ..parse import ParsedDocument, ParseLimits
from .docx import read_docx
from .html import read_html
from .markdown import read_markdown
from .pdf import read_pdf
from .text import read_text

__all__ = ["READERS", "Reader", "read_docx", "read_html", "read_markdown", "read_pdf", "read_text"]

Reader = Callable[[bytes, ParseLimits], ParsedDocument]

READERS: dict[str, Reader] = {
    "pdf": read_pdf,
    "docx": read_docx,
    "html": read_html,
    "markdown": read_markdown,
    "text": read_text,
}
