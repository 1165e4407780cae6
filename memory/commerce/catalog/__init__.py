"""Catalog reads: ISBN normalisation, search (trigram + semantic), get_book and entity matching.

- ``books``: ISBNs, money, the public book dict, reads by ISBN;
- ``search``: ``search_books`` (lexical tiers, semantic neighbours, filters, pagination);
- ``match``: ``match_books`` (books mentioned in free text).

Lexical search uses pg_trgm over title and author (GIN indexes); semantic search uses the pgvector
HNSW index over the embedded part of the catalog (book_embeddings).
"""

from __future__ import annotations

from memory.commerce.catalog.books import (
    book_text,
    format_cents,
    get_book,
    get_books,
    isbn13_to_10,
    normalize_isbn,
    to_public,
)
from memory.commerce.catalog.match import match_books
from memory.commerce.catalog.search import MAX_PAGE_SIZE, Sort, search_books

__all__ = [
    "MAX_PAGE_SIZE",
    "Sort",
    "book_text",
    "format_cents",
    "get_book",
    "get_books",
    "isbn13_to_10",
    "match_books",
    "normalize_isbn",
    "search_books",
    "to_public",
]
