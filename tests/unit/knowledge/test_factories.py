from __future__ import annotations

import sys
from pathlib import Path

import pytest

from memory.index import make_index
from memory.index.pgvector import PgVectorIndex
from memory.settings import MissingExtra, Settings
from tools.knowledge import walk_paths
from workers.queue import InlineQueue, make_queue


def settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(home=tmp_path, _env_file=None, **kw)  # type: ignore[arg-type,call-arg]


def test_make_index_pgvector(tmp_path: Path) -> None:
    index = make_index(settings(tmp_path), db=object())  # type: ignore[arg-type]
    assert isinstance(index, PgVectorIndex) and index.name == "pgvector"
    assert index.bm25.home == tmp_path


def test_make_index_opensearch_missing_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "memory.index.opensearch", raising=False)
    monkeypatch.setitem(sys.modules, "opensearchpy", None)  # import fails as if not installed
    with pytest.raises(MissingExtra) as err:
        make_index(settings(tmp_path, index="opensearch"), db=object())  # type: ignore[arg-type]
    assert "libromind[opensearch]" in str(err.value)


def test_make_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_queue(settings(tmp_path), db=object()), InlineQueue)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "workers.arq_queue", None)
    with pytest.raises(MissingExtra):
        make_queue(settings(tmp_path, queue="arq"), db=object())  # type: ignore[arg-type]


def test_walk_paths_sources_and_hidden(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "x.md").write_text("x")
    (root / "top.txt").write_text("t")
    (root / ".hidden.md").write_text("h")
    (root / ".cache").mkdir()
    (root / ".cache" / "c.md").write_text("c")
    single = tmp_path / "one.pdf"
    single.write_bytes(b"%PDF-")
    pairs = walk_paths([root, single, root / "top.txt"])
    assert [s for _, s in pairs] == ["a/b/x.md", "top.txt", "one.pdf"]
    from tools.errors import InvalidInput

    with pytest.raises(InvalidInput):
        walk_paths([tmp_path / "missing"])
