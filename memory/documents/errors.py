"""Errors raised while turning uploaded bytes into a document.

Every error carries a stable machine-readable ``code`` (API responses, job results and tests rely on
it) and a ``message`` written for the person who uploaded the file.
"""

from __future__ import annotations

__all__ = [
    "ParseError",
    "EmptyDocument",
    "UnsupportedType",
    "TypeMismatch",
    "EncryptedPdf",
    "CorruptDocument",
    "CorruptPdf",
    "NoTextLayer",
    "ZipBomb",
    "TooLarge",
    "InvalidEncoding",
    "NoContent",
    "ERROR_CODES",
]


class ParseError(Exception):
    """A document could not be parsed. ``code`` is stable; ``message`` is for end users."""

    code: str = "parse_error"
    default_message: str = "The document could not be read."

    def __init__(self, code: str | None = None, message: str | None = None) -> None:
        self.code = code or type(self).code
        self.message = message or type(self).default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class _Coded(ParseError):
    """Subclasses fix the code, so they take just an optional message."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(type(self).code, message)


class EmptyDocument(_Coded):
    code = "empty"
    default_message = "The file is empty: it has no bytes or only whitespace."


class UnsupportedType(_Coded):
    code = "unsupported_type"
    default_message = (
        "This type of file is not supported. Upload a PDF, Word (.docx), HTML, Markdown or plain-text file."
    )


class TypeMismatch(_Coded):
    code = "type_mismatch"
    default_message = "The file's content does not match its name's extension."


class EncryptedPdf(_Coded):
    code = "encrypted_pdf"
    default_message = (
        "The PDF is password-protected. Remove the password (or export an unprotected copy) "
        "and upload it again."
    )


class CorruptDocument(_Coded):
    code = "corrupt_document"
    default_message = "The file is damaged and cannot be read."


class CorruptPdf(CorruptDocument):
    code = "corrupt_pdf"
    default_message = (
        "The PDF is damaged or incomplete (for example, the upload was cut off) and cannot be read."
    )


class NoTextLayer(_Coded):
    code = "no_text_layer"
    default_message = (
        "The PDF has pages but no text that can be extracted: it looks like a scanned PDF, which needs "
        "OCR (text recognition) before it can be added."
    )


class ZipBomb(_Coded):
    code = "zip_bomb"
    default_message = (
        "The Word file expands to far more data than its size suggests, so it was refused for safety."
    )


class TooLarge(_Coded):
    code = "too_large"
    default_message = "The file is too large to be added."


class InvalidEncoding(_Coded):
    code = "invalid_encoding"
    default_message = "The text is not valid UTF-8. Save the file with UTF-8 encoding and upload it again."


class NoContent(_Coded):
    code = "no_content"
    default_message = "The file contains no readable text."


ERROR_CODES: frozenset[str] = frozenset(
    cls.code
    for cls in (
        EmptyDocument,
        UnsupportedType,
        TypeMismatch,
        EncryptedPdf,
        CorruptDocument,
        CorruptPdf,
        NoTextLayer,
        ZipBomb,
        TooLarge,
        InvalidEncoding,
        NoContent,
    )
)
