"""Good inputs: section trails, pages, metadata, type detection by content."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from memory.documents import MIME_TYPES, ParsedDocument, content_hash, detect_type, parse


def paths(doc: ParsedDocument) -> list[list[str]]:
    return [s.path for s in doc.sections]


def section(doc: ParsedDocument, path: list[str]):  # type: ignore[no-untyped-def]
    return next(s for s in doc.sections if s.path == path)


def test_content_hash_is_sha256() -> None:
    assert content_hash(b"policy") == hashlib.sha256(b"policy").hexdigest()


# ------------------------------------------------------------------ PDF


def test_pdf_excerpt_keeps_pages(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    doc = parse(fixture_bytes("policy-ch1-pages13-15.pdf"), "excerpt.pdf")
    assert doc.mime == MIME_TYPES["pdf"] == "application/pdf"
    assert doc.page_count == 3
    assert [s.page for s in doc.sections] == [1, 2, 3]
    assert all(s.path == [] for s in doc.sections)  # no outline in the excerpt
    assert "This manual describes the policy requirements for the Debian distribution" in doc.sections[0].text
    assert "\r" not in doc.text and "\ufffe" not in doc.text
    assert "distribution. These statements" in doc.text  # soft hyphen "dis-tribution" joined


def test_policy_pdf_outline_gives_section_trails(policy_pdf: ParsedDocument) -> None:
    doc = policy_pdf
    assert doc.page_count == 193
    assert doc.title == "Debian Policy Manual"
    assert doc.author == "The Debian Policy Mailing List"
    assert doc.date == "2022-12-17T02:41:44-00:00"
    scope = section(doc, ["About this manual", "Scope"])
    assert scope.page == 13 and scope.text.startswith("1.1 Scope\nThis manual describes")
    name = section(doc, ["Binary packages", "The package name"])
    assert name.text.startswith("3.1 The package name") and name.page == 23
    early = section(doc, ["About this manual", "Authors and Maintainers", "Early history"])
    assert early.page == 14
    pages = [s.page for s in doc.sections]
    assert pages == sorted(pages) and pages[0] >= 1 and pages[-1] <= 193
    # a section that runs over a page break continues with the same trail on the next page
    continued = [s for s in doc.sections if s.path == ["About this manual", "Scope"]]
    assert [s.page for s in continued] == [13, 14]
    # running headers and bare page numbers are dropped
    assert not any(s.text.startswith("Debian Policy Manual, Release") for s in doc.sections)


def test_pdf_without_outline_or_title(corpus: Path) -> None:
    doc = parse((corpus / "fhs" / "fhs-3.0.pdf").read_bytes(), "fhs-3.0.pdf")
    assert doc.page_count == 50
    assert doc.title == "Filesystem Hierarchy Standard"
    assert {s.page for s in doc.sections} <= set(range(1, 51))


# ------------------------------------------------------------------ DOCX


def test_docx_headings_metadata_and_tables(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    doc = parse(fixture_bytes("policy-ch3-binary.docx"), "ch3.docx")
    assert doc.mime == MIME_TYPES["docx"]
    assert doc.title == "Debian Policy Manual: Binary packages"
    assert doc.author == "The Debian Policy Mailing List"
    assert doc.date is not None and doc.date.startswith("2022-12-17T02:41:44")
    assert doc.page_count is None
    trails = paths(doc)
    assert trails[0] == ["3. Binary packages"]
    assert ["3. Binary packages", "3.1. The package name"] in trails
    assert [
        "3. Binary packages",
        "3.1. The package name",
        "3.1.1. Packages with potentially offensive content",
    ] in trails
    assert ["3. Binary packages", "3.2. The version of a package"] in trails  # level pops back
    assert section(doc, ["3. Binary packages", "3.1. The package name"]).text.startswith(
        "Every package must have a name that’s unique within the Debian archive."
    )
    table = section(doc, ["3. Binary packages", "FHS directory classes (table)"])
    assert "shareable | unshareable" in table.text and "static | /usr | /etc" in table.text


# ------------------------------------------------------------------ HTML


def test_sphinx_html_chapter(corpus: Path) -> None:
    data = (corpus / "policy.html" / "ch-binary.html").read_bytes()
    doc = parse(data, "ch-binary.html")
    assert doc.mime == "text/html"
    assert doc.title is not None and doc.title.startswith("3. Binary packages")
    trails = paths(doc)
    assert trails[0] == ["3. Binary packages"]
    assert trails[1] == ["3. Binary packages", "3.1. The package name"]
    assert [
        "3. Binary packages",
        "3.2. The version of a package",
        "3.2.1. Version numbers based on dates",
    ] in trails
    assert "¶" not in doc.text and not any("¶" in p for t in trails for p in t)
    # sidebar / navigation / footer are not content
    assert "Quick search" not in doc.text and "Navigation" not in doc.text
    assert "Table of Contents" not in doc.text
    assert "The Debian distribution is based on the Debian package management system" in doc.sections[0].text


def test_html_fragment_uses_first_h1_as_title(corpus: Path) -> None:
    doc = parse((corpus / "autopkgtest.html").read_bytes(), "autopkgtest.html")
    assert doc.title == "Autopkgtest - Defining tests for Debian packages"
    assert ["Autopkgtest - Defining tests for Debian packages", "Overview"] in paths(doc)
    assert "Tests: fred bill bongo" in doc.text  # <pre> kept


def test_html_drops_scripts_nav_header_footer() -> None:
    html = b"""<!doctype html><html><head><title>T</title><script>var x=1;</script></head><body>
    <header>Site banner</header><nav>Home | About</nav>
    <h1>Returns</h1><p>Books can be returned <b>within 30 days</b>.</p><script>track()</script>
    <h2>Exceptions</h2><p>Opened e-books cannot be returned.</p>
    <footer>Copyright shop</footer></body></html>"""
    doc = parse(html, "returns")
    assert doc.title == "T"
    assert paths(doc) == [["Returns"], ["Returns", "Exceptions"]]
    assert doc.sections[0].text == "Books can be returned within 30 days."
    assert "banner" not in doc.text and "Home" not in doc.text and "Copyright" not in doc.text
    assert "track" not in doc.text


# ------------------------------------------------------------------ Markdown / text


def test_markdown_headings_and_front_matter(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    doc = parse(fixture_bytes("policy-ch1-scope.md"), "scope.md")
    assert doc.mime == "text/markdown"
    assert doc.title == "Debian Policy Manual: About this manual"
    assert doc.author == "The Debian Policy Mailing List" and doc.date == "2022-12-17"
    trails = paths(doc)
    assert trails[0] == ["1. About this manual", "1.1. Scope"]  # setext heading
    assert ["1. About this manual", "1.3. Authors and Maintainers", "1.3.1. Early history"] in trails
    assert ["1. About this manual", "1.4. Related documents"] in trails
    assert doc.sections[0].text.startswith("This manual describes the policy requirements")
    assert "title:" not in doc.text and "#" not in doc.sections[0].text
    assert "Package: hello\nVersion: 2.10-2" in doc.text  # fenced code kept verbatim


def test_markdown_detected_by_content_without_extension() -> None:
    data = b"# Shipping\n\nOrders ship in two days.\n\n## Abroad\n\nFive days.\n"
    assert detect_type(data, "shipping") == "markdown"
    doc = parse(data, "shipping")
    assert paths(doc) == [["Shipping"], ["Shipping", "Abroad"]] and doc.title == "Shipping"


def test_txt_extension_stays_plain_text() -> None:
    assert detect_type(b"# not a heading\nplain notes\n", "notes.txt") == "text"


def test_html_detected_by_content() -> None:
    assert detect_type(b"<!DOCTYPE html><html><body><p>x</p></body></html>", "page") == "html"
    assert detect_type(b"<div><p>Hello</p></div>", "snippet") == "html"


def test_plain_text_with_bom(corpus: Path) -> None:
    data = b"\xef\xbb\xbf" + (corpus / "copyright").read_bytes()
    doc = parse(data, "copyright")
    assert doc.mime == "text/plain" and len(doc.sections) == 1
    assert doc.sections[0].path == [] and doc.sections[0].page is None
    assert not doc.text.startswith("\ufeff")
    assert "Format: " in doc.text


@pytest.mark.parametrize("name", ["ch-binary.html", "ch-controlfields.html", "index.html"])
def test_sphinx_pages_have_no_empty_sections(corpus: Path, name: str) -> None:
    doc = parse((corpus / "policy.html" / name).read_bytes(), name)
    assert doc.sections and all(s.text.strip() for s in doc.sections)


def test_text_quoting_a_pdf_header_is_not_a_pdf() -> None:
    data = b"# PDF notes\n\nEvery PDF starts with `%PDF-1.7` on its first line.\n"
    assert detect_type(data, "notes.md") == "markdown"
    assert "%PDF-1.7" in parse(data, "notes.md").text
