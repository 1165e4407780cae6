"""Documents: parse uploaded bytes into sections, chunk them for indexing, embed them."""

from __future__ import annotations

from .chunk import ApproxTokenizer, Chunk, chunk, default_tokenizer
from .errors import (
    ERROR_CODES,
    CorruptDocument,
    CorruptPdf,
    EmptyDocument,
    EncryptedPdf,
    InvalidEncoding,
    NoContent,
    NoTextLayer,
    ParseError,
    TooLarge,
    TypeMismatch,
    UnsupportedType,
    ZipBomb,
)
from .parse import MIME_TYPES, ParsedDocument, ParseLimits, Section, content_hash, detect_type, parse

__all__ = [
    "ApproxTokenizer",
    "Chunk",
    "chunk",
    "default_tokenizer",
    "ERROR_CODES",
    "CorruptDocument",
    "CorruptPdf",
    "EmptyDocument",
    "EncryptedPdf",
    "InvalidEncoding",
    "NoContent",
    "NoTextLayer",
    "ParseError",
    "TooLarge",
    "TypeMismatch",
    "UnsupportedType",
    "ZipBomb",
    "MIME_TYPES",
    "ParsedDocument",
    "ParseLimits",
    "Section",
    "content_hash",
    "detect_type",
    "parse",
]
