"""HTML reader (BeautifulSoup + lxml): main content only, h1..h6 -> section trail."""

from __future__ import annotations

import re
import warnings
from typing import Any

from ..errors import InvalidEncoding, NoContent
from ..parse import MIME_TYPES, ParsedDocument, ParseLimits, Section
from .text import push_trail, squash, tidy

__all__ = ["read_html"]

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


def read_html(data: bytes, limits: ParseLimits) -> ParsedDocument:
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
    title = squash(soup.title.get_text()) if soup.title else None
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
        text = tidy("".join(buf))
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
            heading = squash(node.get_text("").replace("¶", ""))
            if heading:
                flush()
                path = push_trail(trail, int(name[1]), heading)
            continue
        if name == "br":
            buf.append("\n")
        elif name == "pre":
            buf.append("\n\n" + node.get_text("") + "\n\n")
        elif name == "table":
            rows = [
                " | ".join(squash(c.get_text(" ")) for c in tr.find_all(["td", "th"]))
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
    title = title or (squash(first_h1.get_text("").replace("¶", "")) if first_h1 else None)
    return ParsedDocument(
        title=title or None,
        author=author,
        date=date,
        page_count=None,
        mime=MIME_TYPES["html"],
        sections=sections,
    )
