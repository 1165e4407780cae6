"""memory/secrets.py: the session secret is configured (>= 32 bytes) or generated once per home (0600)."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from memory import secrets
from memory.secrets import SECRET_FILE, SecretError, home_secret, session_secret
from memory.settings import Settings


def _settings(home: Path, secret: str | None = None) -> Settings:
    return Settings(home=home, session_secret=SecretStr(secret) if secret else None, _env_file=None)  # type: ignore[call-arg]


def test_short_configured_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="too short"):
        _settings(tmp_path, "dev-only-change-me")
    assert session_secret(_settings(tmp_path, "x" * 32)) == "x" * 32
    assert not (tmp_path / SECRET_FILE).exists()


def test_empty_configured_secret_means_generated(tmp_path: Path) -> None:
    s = Settings(home=tmp_path / "h", session_secret=SecretStr(""), _env_file=None)  # type: ignore[call-arg]
    assert s.session_secret is None
    assert session_secret(s) == (tmp_path / "h" / SECRET_FILE).read_text().strip()


def test_generated_secret_is_private_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = session_secret(_settings(home))
    path = home / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) >= 32
    assert (home / "libromind-home.json").exists()  # a proper home, not a foreign directory
    assert home_secret(home) == first
    assert [p.name for p in home.iterdir() if p.name.endswith(".tmp")] == []


def _make(home: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(home_secret(Path(home)))


def test_concurrent_first_starts_agree_on_one_secret(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home_secret(tmp_path / "warm")  # import everything before forking
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_make, args=(str(home), out)) for _ in range(6)]
    for p in procs:
        p.start()
    values = {out.get(timeout=30) for _ in procs}
    for p in procs:
        p.join(timeout=30)
    assert values == {(home / SECRET_FILE).read_text().strip()}


def test_loose_permissions_and_symlinks_are_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home_secret(home)
    path = home / SECRET_FILE
    path.chmod(0o640)
    secrets._cache.clear()  # read again from disk, as a new process would
    with pytest.raises(SecretError, match="mode 0640"):
        home_secret(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # refused, not silently repaired
    target = tmp_path / "elsewhere"
    target.write_text("y" * 48)
    target.chmod(0o600)
    link_home = tmp_path / "linked"
    home_secret(link_home)
    (link_home / SECRET_FILE).unlink()
    (link_home / SECRET_FILE).symlink_to(target)
    secrets._cache.clear()
    with pytest.raises(SecretError):
        home_secret(link_home)
