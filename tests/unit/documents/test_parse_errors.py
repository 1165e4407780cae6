"""Every bad input is refused with a stable code and a clear sentence for the uploader."""

from __future__ import annotations

import importlib
import time
import zipfile
from pathlib import Path

import pytest

from memory.documents import ERROR_CODES, ParseError, ParseLimits, parse

# the package re-exports the function parse(), which shadows the submodule as an attribute
parse_mod = importlib.import_module("memory.documents.parse")
MB = 1024 * 1024


def refused(data: bytes, filename: str, code: str, **kw: object) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(data, filename, **kw)  # type: ignore[arg-type]
    err = info.value
    assert err.code == code, err
    assert (
        err.message
        and (err.message[0].isupper() or err.message[0] == "“")
        and err.message.rstrip().endswith(".")
    ), err.message
    assert str(err) == err.message
    return err


def test_error_codes_are_stable() -> None:
    assert {
        "empty",
        "unsupported_type",
        "type_mismatch",
        "encrypted_pdf",
        "corrupt_document",
        "corrupt_pdf",
        "no_text_layer",
        "zip_bomb",
        "too_large",
        "invalid_encoding",
        "no_content",
    } == ERROR_CODES
    err = ParseError("custom", "Something specific went wrong.")
    assert (err.code, err.message) == ("custom", "Something specific went wrong.")
    assert err.to_dict() == {"code": "custom", "message": "Something specific went wrong."}


def test_empty_file(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    err = refused(fixture_bytes("empty.txt"), "empty.txt", "empty")
    assert "empty" in err.message


def test_zero_byte_pdf(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    refused(fixture_bytes("empty.pdf"), "report.pdf", "empty")


def test_whitespace_only(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    refused(fixture_bytes("whitespace.md"), "whitespace.md", "empty")


def test_encrypted_pdf(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    import pypdfium2 as pdfium

    data = fixture_bytes("encrypted.pdf")
    # the fixture is a genuine encrypted PDF: it opens with its password
    assert (
        "Debian distribution"
        in pdfium.PdfDocument(data, password="secret")[0].get_textpage().get_text_range()
    )
    err = refused(data, "encrypted.pdf", "encrypted_pdf")
    assert "password" in err.message


def test_truncated_pdf(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    err = refused(fixture_bytes("truncated.pdf"), "policy.pdf", "corrupt_pdf")
    assert "incomplete" in err.message or "damaged" in err.message


def test_broken_pdf_with_end_marker(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    data = fixture_bytes("truncated.pdf") + b"\n%%EOF\n"  # looks complete, is not
    refused(data, "policy.pdf", "corrupt_pdf")


def test_scanned_pdf_without_text_layer(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    err = refused(fixture_bytes("scanned.pdf"), "scan.pdf", "no_text_layer")
    assert "scanned PDF" in err.message and "OCR" in err.message


def test_docx_zip_bomb_by_total_size(tmp_path: Path, builders, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bomb = builders.docx_bomb(tmp_path / "bomb.docx", member_bytes=110 * MB)
    data = bomb.read_bytes()
    assert len(data) < 1 * MB  # 110 MB of zeros deflate to ~110 KB

    def no_decompression(*a: object, **k: object) -> None:
        raise AssertionError("a member was decompressed")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_decompression)
    start = time.perf_counter()
    err = refused(data, "bomb.docx", "zip_bomb")
    assert time.perf_counter() - start < 2.0
    assert "110 MB" in err.message and "100 MB" in err.message


def test_docx_zip_bomb_by_ratio(tmp_path: Path, builders) -> None:  # type: ignore[no-untyped-def]
    data = builders.docx_bomb(tmp_path / "ratio.docx", member_bytes=8 * MB).read_bytes()
    err = refused(data, "ratio.docx", "zip_bomb")
    assert "compressed" in err.message


def test_docx_zip_bomb_custom_limit(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    refused(
        fixture_bytes("policy-ch3-binary.docx"),
        "ch3.docx",
        "zip_bomb",
        limits=ParseLimits(max_uncompressed_bytes=10_000),
    )


def test_too_large_refused_by_size_without_decoding(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def must_not_run(*a: object, **k: object) -> str:
        raise AssertionError("content was inspected")

    monkeypatch.setattr(parse_mod, "detect_type", must_not_run)
    data = bytes(200 * MB)
    err = refused(data, "huge.txt", "too_large")
    assert "200.0 MB" in err.message and "100 MB" in err.message


def test_too_large_custom_limit() -> None:
    refused(b"hello world\n" * 100, "small.txt", "too_large", limits=ParseLimits(max_bytes=100))


def test_binary_named_txt(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    err = refused(fixture_bytes("binary-named.txt"), "notes.txt", "type_mismatch")
    assert "notes.txt" in err.message and "not text" in err.message


def test_pdf_named_txt(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    refused(fixture_bytes("policy-ch1-pages13-15.pdf"), "notes.txt", "type_mismatch")


def test_text_named_pdf() -> None:
    err = refused(b"This is plain text, not a PDF.\n", "report.pdf", "type_mismatch")
    assert "not a PDF" in err.message


def test_docx_named_md(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    refused(fixture_bytes("policy-ch3-binary.docx"), "readme.md", "type_mismatch")


def test_invalid_utf8(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    err = refused(fixture_bytes("invalid-utf8.txt"), "legacy.txt", "invalid_encoding")
    assert "UTF-8" in err.message and "position 35" in err.message


def test_utf16_is_an_encoding_error() -> None:
    err = refused("Debian policy\n".encode("utf-16"), "policy.txt", "invalid_encoding")
    assert "UTF-16" in err.message


def test_html_with_only_scripts(fixture_bytes) -> None:  # type: ignore[no-untyped-def]
    err = refused(fixture_bytes("scripts-only.html"), "app.html", "no_content")
    assert "no readable text" in err.message


def test_unsupported_binary_type() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
    err = refused(png, "cover.png", "unsupported_type")
    assert "image/png" in err.message


def test_plain_zip_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")
    refused(path.read_bytes(), "a.zip", "unsupported_type")


def test_damaged_zip_named_docx() -> None:
    refused(b"PK\x03\x04" + b"\x01" * 200, "broken.docx", "corrupt_document")
