"""Fixtures for the document parsing/chunking tests (no services, no network)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "docs"
CORPUS = REPO / "data" / "docs" / "debian-policy"


def _load_builders() -> ModuleType:
    path = REPO / "tests" / "fixtures" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("libromind_make_fixtures", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def builders() -> ModuleType:
    """tests/fixtures/make_fixtures.py, for inputs built at test time (bombs, huge files)."""
    return _load_builders()


@pytest.fixture(scope="session")
def fixture_bytes():  # type: ignore[no-untyped-def]
    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return read


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail("data/docs/debian-policy is missing from the repository")
    return CORPUS


@pytest.fixture(scope="session")
def policy_pdf(corpus: Path):  # type: ignore[no-untyped-def]
    """The real 193-page policy.pdf, parsed once per session."""
    from memory.documents import parse

    return parse((corpus / "policy.pdf").read_bytes(), "policy.pdf")
