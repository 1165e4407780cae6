"""Check the evaluation datasets against their schema and against the real corpus.

Run as ``python evals/verify_datasets.py`` (prints a summary, exits non-zero on errors) or import
``verify_qa`` / ``verify_cache_pairs``, which return a list of human-readable error strings (empty when
the file is clean).

Retrieval/QA lines look like ``{"id","question","gold":[{"source","evidence"}],"answer_contains","kind"}``.
Every gold ``evidence`` must occur (whitespace-collapsed, case-sensitive) in the extracted text of its
``source`` file, which is a path relative to the ingested corpus directory: HTML is extracted with
BeautifulSoup ``get_text(" ")``, PDF with pypdfium2, anything else is read as UTF-8 text. That is the
same relevance rule the retrieval evaluation applies to chunks, so a gold span that is not in the text
could never be matched.

Semantic-cache lines look like ``{"id","a","b","same":bool,"domain"}``: asking ``b`` after ``a`` must
hit the cache exactly when ``same`` is true.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "KINDS",
    "DOMAINS",
    "MIN_QA",
    "MIN_PARAPHRASE_SHARE",
    "MIN_PAIRS",
    "MIN_SAME_SHARE",
    "collapse",
    "extract_text",
    "load_jsonl",
    "verify_qa",
    "verify_cache_pairs",
    "qa_summary",
    "pairs_summary",
    "main",
]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_QA = REPO / "evals" / "datasets" / "policy_qa.jsonl"
DEFAULT_PAIRS = REPO / "evals" / "datasets" / "cache_pairs.jsonl"
DEFAULT_CORPUS = REPO / "data" / "docs" / "debian-policy"

KINDS = ("lexical", "paraphrase")
DOMAINS = ("docs", "catalog")
MIN_QA = 130
MIN_PARAPHRASE_SHARE = 0.5
MIN_PAIRS = 220
MIN_SAME_SHARE = 0.4  # each of same=true / same=false
MAX_EVIDENCE_WORDS = 40  # a gold span must fit inside one ~200-word chunk
MAX_ANSWER_TERMS = 3


def collapse(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


@lru_cache(maxsize=128)
def _extract_cached(path: str, mtime_ns: int) -> str:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".html", ".htm", ".xhtml"):
        from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            text = BeautifulSoup(p.read_bytes(), "lxml").get_text(" ")
    elif suffix == ".pdf":
        import pypdfium2

        pdf = pypdfium2.PdfDocument(str(p))
        try:
            pages = []
            for i in range(len(pdf)):
                page = pdf[i]
                textpage = page.get_textpage()
                pages.append(textpage.get_text_range())
                textpage.close()
                page.close()
        finally:
            pdf.close()
        text = "\n".join(pages)
    else:
        text = p.read_text(encoding="utf-8", errors="replace")
    return collapse(text)


def extract_text(path: Path) -> str:
    """Whitespace-collapsed text of a corpus file (HTML, PDF or plain text), cached per file version."""
    return _extract_cached(str(path), path.stat().st_mtime_ns)


def load_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Parse a JSONL file; return (objects, errors). Blank lines are ignored."""
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"line {lineno}: invalid JSON ({exc.msg})")
                continue
            if not isinstance(obj, dict):
                errors.append(f"line {lineno}: expected a JSON object")
                continue
            obj["_line"] = lineno
            rows.append(obj)
    return rows, errors


def _nonempty_str(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_ids(rows: list[dict[str, Any]], errors: list[str]) -> None:
    counts = Counter(r.get("id") for r in rows if _nonempty_str(r.get("id")))
    for rid, n in sorted(counts.items()):
        if n > 1:
            errors.append(f"id {rid!r} used {n} times")


def _check_qa_row(row: dict[str, Any], corpus: Path, errors: list[str]) -> None:
    where = f"line {row['_line']} ({row.get('id', '?')})"
    expected = {"id", "question", "gold", "answer_contains", "kind", "_line"}
    extra = set(row) - expected
    if extra:
        errors.append(f"{where}: unexpected keys {sorted(extra)}")
    for key in ("id", "question"):
        if not _nonempty_str(row.get(key)):
            errors.append(f"{where}: {key!r} must be a non-empty string")
    if row.get("kind") not in KINDS:
        errors.append(f"{where}: kind must be one of {KINDS}, got {row.get('kind')!r}")

    answers = row.get("answer_contains")
    if (
        not isinstance(answers, list)
        or not 1 <= len(answers) <= MAX_ANSWER_TERMS
        or not all(_nonempty_str(a) for a in answers)
    ):
        errors.append(f"{where}: answer_contains must be a list of 1-{MAX_ANSWER_TERMS} non-empty strings")
        answers = []

    gold = row.get("gold")
    if not isinstance(gold, list) or not gold:
        errors.append(f"{where}: gold must be a non-empty list")
        return
    evidences: list[str] = []
    for j, g in enumerate(gold):
        gw = f"{where} gold[{j}]"
        if not isinstance(g, dict) or set(g) != {"source", "evidence"}:
            errors.append(f"{gw}: must be an object with exactly 'source' and 'evidence'")
            continue
        source, evidence = g["source"], g["evidence"]
        if not _nonempty_str(source) or not _nonempty_str(evidence):
            errors.append(f"{gw}: source and evidence must be non-empty strings")
            continue
        ev = collapse(evidence)
        evidences.append(ev)
        if len(ev.split()) > MAX_EVIDENCE_WORDS:
            errors.append(f"{gw}: evidence has {len(ev.split())} words (max {MAX_EVIDENCE_WORDS})")
        path = (corpus / source).resolve()
        if corpus.resolve() not in path.parents or not path.is_file():
            errors.append(f"{gw}: source {source!r} is not a file in the corpus")
            continue
        if ev not in extract_text(path):
            errors.append(f"{gw}: evidence {ev!r} not found in {source}")
    for term in answers:
        if evidences and not any(term.lower() in ev.lower() for ev in evidences):
            errors.append(f"{where}: answer term {term!r} does not occur in any gold evidence")


def verify_qa(path: Path | str, corpus_dir: Path | str) -> list[str]:
    """Return every problem found in a retrieval/QA JSONL file checked against ``corpus_dir``."""
    corpus = Path(corpus_dir)
    if not corpus.is_dir():
        return [f"corpus directory {corpus} does not exist"]
    rows, errors = load_jsonl(Path(path))
    for row in rows:
        _check_qa_row(row, corpus, errors)
    _check_ids(rows, errors)
    if rows:
        share = sum(r.get("kind") == "paraphrase" for r in rows) / len(rows)
        if share < MIN_PARAPHRASE_SHARE:
            errors.append(f"paraphrase share {share:.1%} is below {MIN_PARAPHRASE_SHARE:.0%}")
    else:
        errors.append("no questions")
    return errors


def verify_cache_pairs(path: Path | str) -> list[str]:
    """Return every problem found in a semantic-cache pairs JSONL file."""
    rows, errors = load_jsonl(Path(path))
    seen: set[tuple[str, str]] = set()
    for row in rows:
        where = f"line {row['_line']} ({row.get('id', '?')})"
        extra = set(row) - {"id", "a", "b", "same", "domain", "_line"}
        if extra:
            errors.append(f"{where}: unexpected keys {sorted(extra)}")
        for field in ("id", "a", "b"):
            if not _nonempty_str(row.get(field)):
                errors.append(f"{where}: {field!r} must be a non-empty string")
        if not isinstance(row.get("same"), bool):
            errors.append(f"{where}: 'same' must be a boolean")
        if row.get("domain") not in DOMAINS:
            errors.append(f"{where}: domain must be one of {DOMAINS}, got {row.get('domain')!r}")
        a, b = row.get("a"), row.get("b")
        if isinstance(a, str) and isinstance(b, str):
            if collapse(a).lower() == collapse(b).lower():
                errors.append(f"{where}: a and b are the same text")
            key = (collapse(a).lower(), collapse(b).lower())
            if key in seen:
                errors.append(f"{where}: duplicate pair")
            seen.add(key)
    _check_ids(rows, errors)
    if rows:
        for value in (True, False):
            share = sum(r.get("same") is value for r in rows) / len(rows)
            if share < MIN_SAME_SHARE:
                errors.append(f"same={value} share {share:.1%} is below {MIN_SAME_SHARE:.0%}")
    else:
        errors.append("no pairs")
    return errors


def qa_summary(path: Path | str) -> dict[str, Any]:
    """Counts for the QA file: total, per kind, per primary source, PDF golds."""
    rows, _ = load_jsonl(Path(path))
    kinds = Counter(r.get("kind") for r in rows)
    primary = Counter(r["gold"][0]["source"] for r in rows if r.get("gold"))
    pdf = sum(any(str(g.get("source", "")).endswith(".pdf") for g in r.get("gold", [])) for r in rows)
    return {
        "total": len(rows),
        "kinds": dict(kinds),
        "paraphrase_share": kinds.get("paraphrase", 0) / len(rows) if rows else 0.0,
        "primary_sources": dict(primary.most_common()),
        "with_pdf_gold": pdf,
    }


def pairs_summary(path: Path | str) -> dict[str, Any]:
    """Counts for the cache-pairs file: total, same/not same, per domain."""
    rows, _ = load_jsonl(Path(path))
    by = Counter((r.get("domain"), r.get("same")) for r in rows)
    domains = sorted({str(r.get("domain")) for r in rows})
    return {
        "total": len(rows),
        "same": sum(r.get("same") is True for r in rows),
        "not_same": sum(r.get("same") is False for r in rows),
        "by_domain": {d: {"same": by[(d, True)], "not_same": by[(d, False)]} for d in domains},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=DEFAULT_QA)
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args(argv)

    qa_errors = verify_qa(args.qa, args.corpus)
    pair_errors = verify_cache_pairs(args.pairs)

    qs = qa_summary(args.qa)
    print(f"{args.qa}: {qs['total']} questions, kinds {qs['kinds']}, paraphrase {qs['paraphrase_share']:.1%}")
    print(f"  with a PDF gold: {qs['with_pdf_gold']}")
    for source, n in qs["primary_sources"].items():
        print(f"  {n:4d}  {source}")
    if qs["total"] < MIN_QA:
        qa_errors.append(f"only {qs['total']} questions (want >= {MIN_QA})")

    ps = pairs_summary(args.pairs)
    print(f"{args.pairs}: {ps['total']} pairs, same {ps['same']}, not same {ps['not_same']}")
    for domain, c in ps["by_domain"].items():
        print(f"  {domain}: same {c['same']}, not same {c['not_same']}")
    if ps["total"] < MIN_PAIRS:
        pair_errors.append(f"only {ps['total']} pairs (want >= {MIN_PAIRS})")

    errors = [f"qa: {e}" for e in qa_errors] + [f"pairs: {e}" for e in pair_errors]
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    print("OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
