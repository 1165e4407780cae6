from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def builders() -> ModuleType:
    """tests/fixtures/make_fixtures.py (zip bomb and other inputs built at test time)."""
    spec = importlib.util.spec_from_file_location(
        "libromind_make_fixtures_k", REPO / "tests/fixtures/make_fixtures.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
