"""Markdown reader (markdown-it-py): headings -> section trail, YAML-style front matter."""

from __future__ import annotations

import re
from typing import Any

from ..parse import MIME_TYPES, ParsedDocument, ParseLimits, Section, decode_utf8
from .text import push_trail, squash, tidy

__all__ = ["read_markdown"]

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


def read_markdown(data: bytes, limits: ParseLimits) -> ParsedDocument:
    from markdown_it import MarkdownIt

    fields, body = _front_matter(decode_utf8(data, "The Markdown file").replace("\r\n", "\n"))
    tokens = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).parse(body)
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    path: list[str] = []
    buf: list[str] = []
    first_h1: str | None = None
    in_heading = False

    def flush() -> None:
        text = tidy("".join(buf))
        if text:
            sections.append(Section(path=list(path), text=text))
        buf.clear()

    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind == "heading_open":
            in_heading = True
            heading = squash(_inline_text(tokens[i + 1])) if i + 1 < len(tokens) else ""
            if heading:
                flush()
                path = push_trail(trail, int(tok.tag[1]), heading)
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
