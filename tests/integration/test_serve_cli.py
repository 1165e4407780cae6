"""`libromind serve` bad-input behaviour, through the real CLI in subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
    env.update({"LIBROMIND_LOG_JSON": "false", "LIBROMIND_DEMO_DATA": "false", "HF_HUB_OFFLINE": "1"})
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "libromind", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_foreign_home_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    r = _cli("serve", "--port", str(_free_port()), env=_env(LIBROMIND_HOME=str(tmp_path)))
    assert r.returncode == 2
    assert "not a libromind data directory" in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_unreachable_database_fails_fast(tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = _cli(
        "serve",
        "--port",
        str(_free_port()),
        env=_env(
            LIBROMIND_HOME=str(tmp_path / "h"),
            LIBROMIND_DATABASE_URL="postgresql://app:hunter2@10.255.255.1:5432/db",
            LIBROMIND_DB_CONNECT_TIMEOUT="3",
        ),
    )
    elapsed = time.monotonic() - t0
    assert r.returncode == 2, r.stderr
    assert "10.255.255.1:5432" in r.stderr
    assert "hunter2" not in r.stderr + r.stdout
    assert elapsed < 10 + 8  # 10 s budget for the connect, plus interpreter start-up


def test_second_serve_names_data_directory_and_port(tmp_path: Path) -> None:
    port = _free_port()
    home = tmp_path / "home"
    env = _env(LIBROMIND_HOME=str(home))
    first = subprocess.Popen(
        [sys.executable, "-m", "libromind", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if first.poll() is not None:
                pytest.fail(f"first server exited: {first.stdout.read() if first.stdout else ''}")
            time.sleep(0.5)
        else:
            pytest.fail("first server never became ready")
        same_home = _cli("serve", "--port", str(_free_port()), env=env)
        assert same_home.returncode == 2
        assert str(home.resolve()) in same_home.stderr and "in use" in same_home.stderr
        assert f"pid {first.pid}" in same_home.stderr

        other_home = _cli("serve", "--port", str(port), env=_env(LIBROMIND_HOME=str(tmp_path / "other")))
        assert other_home.returncode == 2
        assert f"port {port}" in other_home.stderr and "in use" in other_home.stderr
    finally:
        first.terminate()
        first.wait(30)
    # SIGTERM ends serve cleanly: it was the last holder of the home's embedded PostgreSQL and stopped it
    # (it used to be killed by the re-raised signal and leave the server running).
    assert first.returncode == 143
    pg_dir = (home / "pg").resolve()
    deadline = time.monotonic() + 20
    while (pg_dir / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (pg_dir / "postmaster.pid").exists(), "serve left its embedded PostgreSQL running"
