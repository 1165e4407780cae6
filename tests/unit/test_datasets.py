"""The evaluation datasets are well-formed and every gold span is really in the Debian Policy corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.verify_datasets import (
    MIN_PAIRS,
    MIN_PARAPHRASE_SHARE,
    MIN_QA,
    MIN_SAME_SHARE,
    load_jsonl,
    verify_cache_pairs,
    verify_qa,
)

REPO = Path(__file__).resolve().parents[2]
QA = REPO / "evals" / "datasets" / "policy_qa.jsonl"
PAIRS = REPO / "evals" / "datasets" / "cache_pairs.jsonl"
CORPUS = REPO / "data" / "docs" / "debian-policy"


def test_policy_qa_has_no_errors() -> None:
    assert verify_qa(QA, CORPUS) == []


def test_policy_qa_counts() -> None:
    rows, errors = load_jsonl(QA)
    assert errors == []
    assert len(rows) >= MIN_QA
    paraphrase = sum(r["kind"] == "paraphrase" for r in rows)
    assert paraphrase / len(rows) >= MIN_PARAPHRASE_SHARE


def test_policy_qa_spreads_over_the_corpus() -> None:
    rows, _ = load_jsonl(QA)
    sources = {g["source"] for r in rows for g in r["gold"]}
    chapters = {s for s in sources if s.startswith("policy.html/ch-")}
    assert len(chapters) >= 10
    for other in ("fhs/", "menu-policy", "perl-policy", "debconf", "copyright-format", "autopkgtest", ".pdf"):
        assert any(other in s for s in sources), other


def test_cache_pairs_have_no_errors() -> None:
    assert verify_cache_pairs(PAIRS) == []


def test_cache_pairs_counts() -> None:
    rows, errors = load_jsonl(PAIRS)
    assert errors == []
    assert len(rows) >= MIN_PAIRS
    same = sum(r["same"] is True for r in rows)
    assert same / len(rows) >= MIN_SAME_SHARE
    assert (len(rows) - same) / len(rows) >= MIN_SAME_SHARE
    assert {r["domain"] for r in rows} == {"docs", "catalog"}


def test_verify_qa_reports_bad_evidence_and_schema(tmp_path: Path) -> None:
    html = tmp_path / "corpus" / "doc.html"
    html.parent.mkdir()
    html.write_text("<html><body><p>Packages <b>must not</b> do that.</p></body></html>")
    good = {
        "id": "q1",
        "question": "May packages do that?",
        "gold": [{"source": "doc.html", "evidence": "Packages must not do that."}],
        "answer_contains": ["must not"],
        "kind": "paraphrase",
    }
    bad_span = dict(good, id="q2", gold=[{"source": "doc.html", "evidence": "Packages may do that."}])
    bad_kind = dict(good, id="q1", kind="other")
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (good, bad_span, bad_kind)) + "\n")

    errors = verify_qa(path, tmp_path / "corpus")
    assert any("not found in doc.html" in e for e in errors)
    assert any("kind must be one of" in e for e in errors)
    assert any("id 'q1' used 2 times" in e for e in errors)

    path.write_text(json.dumps(good) + "\n")
    assert verify_qa(path, tmp_path / "corpus") == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "c1", "a": "x", "b": "y", "same": "yes", "domain": "docs"}, "'same' must be a boolean"),
        ({"id": "c1", "a": "x", "b": "y", "same": True, "domain": "web"}, "domain must be one of"),
        ({"id": "c1", "a": "Same", "b": "same", "same": True, "domain": "docs"}, "a and b are the same text"),
    ],
)
def test_verify_cache_pairs_reports_bad_rows(tmp_path: Path, row: dict[str, object], message: str) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(row) + "\n")
    assert any(message in e for e in verify_cache_pairs(path))
