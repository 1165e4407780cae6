"""Search indexes: one Protocol (``SearchIndex``), backends chosen by ``LIBROMIND_INDEX``."""

from __future__ import annotations

import importlib
from typing import Any

from memory.db import Database
from memory.index.base import Hit, IndexedChunk, SearchIndex
from memory.settings import MissingExtra, Settings

__all__ = ["Hit", "IndexedChunk", "SearchIndex", "make_index"]


def make_index(settings: Settings, db: Database, **options: Any) -> SearchIndex:
    """Build the configured backend (pgvector by default; OpenSearch imported lazily)."""
    if settings.index == "pgvector":
        from memory.index.pgvector import PgVectorIndex

        return PgVectorIndex(db, home=settings.home, **options)
    if settings.index == "opensearch":
        try:
            module = importlib.import_module("memory.index.opensearch")
        except ImportError as exc:
            missing = getattr(exc, "name", None) or "opensearchpy"
            if missing.startswith("memory"):
                missing = "opensearchpy"
            raise MissingExtra(missing, "opensearch") from exc
        # the backend module exposes make_index(settings, db) or an OpenSearchIndex(settings, db) class
        factory = getattr(module, "make_index", None) or module.OpenSearchIndex
        return factory(settings, db, **options)  # type: ignore[no-any-return]
    raise ValueError(f"unknown index backend {settings.index!r}")
