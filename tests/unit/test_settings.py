from __future__ import annotations

import pytest

from memory.settings import MissingExtra, Settings, require_extra


def test_env_prefix_and_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBROMIND_INDEX", "opensearch")
    monkeypatch.setenv("LIBROMIND_PORT", "9001")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.index == "opensearch" and s.port == 9001
    explicit = Settings(port=9100, _env_file=None)  # type: ignore[call-arg]
    assert explicit.port == 9100  # explicit beats env
    monkeypatch.delenv("LIBROMIND_PORT")
    assert Settings(_env_file=None).port == 8000  # type: ignore[call-arg]


def test_bad_backend_value_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBROMIND_CACHE", "memcached")
    with pytest.raises(ValueError, match="cache"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_secrets_are_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBROMIND_DATABASE_URL", "postgresql://u:topsecret@db:5432/x")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "topsecret" not in repr(s)
    assert s.masked_database_url() == "postgresql://u:***@db:5432/x"


def test_missing_extra_names_what_to_install() -> None:
    with pytest.raises(MissingExtra) as err:
        require_extra("libromind_no_such_module", "opensearch")
    assert "pip install 'libromind[opensearch]'" in str(err.value)


def test_env_example_and_readme_document_every_setting() -> None:
    from pathlib import Path

    from libromind.configdoc import variables

    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    found = variables()
    assert {v["area"] for v in found} == {"core", "mcp", "slack", "discord"}
    for v in found:
        assert v["var"] in text, f"{v['var']} missing from .env.example"
        assert v["var"] in readme, f"{v['var']} missing from README.md"
