"""``libromind ingest`` and ``libromind search`` end to end (real PostgreSQL, real model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memory.settings import get_settings
from tests.integration.knowledge._data import DOC_A, DOC_B


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LIBROMIND_DATABASE_URL", db_url)
    monkeypatch.setenv("LIBROMIND_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    from libromind.cli import app

    yield app
    get_settings.cache_clear()


def test_ingest_and_search_cli(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = cli_env
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text(DOC_A)
    (docs / "shipping.md").write_text(DOC_B)
    (docs / "empty.txt").write_text("")
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", str(docs), "--json", "--acl", "public"])
    assert res.exit_code == 1, res.output  # one file failed; the others were ingested
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["indexed"] == 2 and summary["failed"] == 1
    assert {d["source"] for d in summary["documents"]} == {"returns.md", "shipping.md", "empty.txt"}

    res = runner.invoke(app, ["search", "how long does express shipping take", "--k", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert [r["source"] for r in out["results"]] == ["shipping.md"]
    assert set(out["results"][0]) == {
        "chunk_id",
        "doc_id",
        "source",
        "title",
        "section",
        "page",
        "text",
        "score",
    }

    batch = tmp_path / "q.jsonl"
    batch.write_text(
        '{"id": "a", "query": "refund for a damaged book"}\n{"id": "b", "query": "delivery time"}\n'
    )
    res = runner.invoke(app, ["search", "--batch", str(batch), "--k", "2", "--as", "employee:e1"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.strip().splitlines() if line.startswith("{")]
    assert [line["id"] for line in lines] == ["a", "b"]
    assert lines[0]["results"][0]["source"] == "returns.md" and len(lines[1]["results"]) == 2
    assert all(isinstance(line["latency_ms"], float) for line in lines)

    res = runner.invoke(app, ["search", "x", "--as", "nobody"])
    assert res.exit_code == 2
