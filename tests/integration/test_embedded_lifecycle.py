"""The embedded PostgreSQL's lifecycle through the real CLI: ``libromind serve`` on a home prepared by
``libromind ingest``, started and stopped repeatedly by signal; CLI commands sharing the server with it;
a holder killed with SIGKILL. No postgres of the home may outlive its last libromind process."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.integration.test_serve_cli import REPO, _cli, _env, _free_port

FIXTURE_DOC = REPO / "tests" / "fixtures" / "docs" / "policy-ch1-scope.md"
OTHER_DOC = REPO / "tests" / "fixtures" / "docs" / "policy-ch1-pages13-15.pdf"


def postgres_of(pg_dir: Path) -> list[psutil.Process]:
    """Live postmasters started on ``pg_dir`` (their command line names the data directory)."""
    out = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        live = proc.info["name"] == "postgres" and proc.info["status"] != psutil.STATUS_ZOMBIE
        if live and str(pg_dir) in (proc.info["cmdline"] or []):
            out.append(proc)
    return out


def is_live_postgres(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE  # zombies are dead
    except psutil.NoSuchProcess:
        return False


def postmaster_pid(pg_dir: Path) -> int | None:
    f = pg_dir / "postmaster.pid"
    return int(f.read_text().splitlines()[0]) if f.exists() else None


def assert_no_postgres(pg_dir: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (postgres_of(pg_dir) or (pg_dir / "postmaster.pid").exists()):
        time.sleep(0.2)
    assert postgres_of(pg_dir) == [], f"postgres of {pg_dir} still running: {postgres_of(pg_dir)}"
    assert not (pg_dir / "postmaster.pid").exists(), "postmaster.pid left behind"


def start_serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "libromind", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.3)
    proc.kill()
    pytest.fail("serve never became ready")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"serve did not exit after {signal.Signals(sig).name}")
    return proc.returncode, out


@pytest.fixture(scope="module")
def ingested_home() -> Iterator[tuple[Path, dict[str, str]]]:
    """A home prepared by ``libromind ingest`` (demo data off): the way the audit hit the failed start.

    Not under pytest's tmp_path: as root the server runs as another user, and every pytest session
    resets /tmp/pytest-of-root to 0700 (a concurrent session would make initdb fail)."""
    root = Path(tempfile.mkdtemp(prefix="libromind-lifecycle-"))
    home = root / "home"
    env = _env(LIBROMIND_HOME=str(home))
    r = _cli("ingest", str(FIXTURE_DOC), "--json", env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    pg_dir = (home / "pg").resolve()
    assert_no_postgres(pg_dir)  # the CLI stopped the server it started
    yield home, env
    for proc in postgres_of(pg_dir):  # never leak a server, even when a test fails
        proc.kill()
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_started_and_stopped_repeatedly_leaves_no_postgres(
    ingested_home: tuple[Path, dict[str, str]], sig: int
) -> None:
    home, env = ingested_home
    pg_dir = (home / "pg").resolve()
    for attempt in range(3):
        port = _free_port()
        proc = start_serve(env, port)
        pid = postmaster_pid(pg_dir)
        assert pid is not None and postgres_of(pg_dir), "serve must run the home's embedded server"
        r = httpx.get(f"http://127.0.0.1:{port}/v1/catalog/search", params={"q": "policy"}, timeout=30)
        assert r.status_code == 200, r.text
        code, out = stop(proc, sig)
        assert code in (0, 1, 130, 143), f"attempt {attempt}: exit {code}\n{out}"
        assert "Traceback" not in out, out
        assert_no_postgres(pg_dir)
        assert not is_live_postgres(pid), f"postmaster {pid} still alive"
        assert list((home / "pg.leases").glob("*.json")) == [], "lease left behind"


def test_cli_command_during_serve_does_not_stop_its_server(
    ingested_home: tuple[Path, dict[str, str]],
) -> None:
    home, env = ingested_home
    pg_dir = (home / "pg").resolve()
    port = _free_port()
    proc = start_serve(env, port)
    try:
        pid = postmaster_pid(pg_dir)
        status = _cli("db", "status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        st = json.loads(status.stdout)
        assert st["running"] and st["pid"] == pid
        assert [h["pid"] for h in st["holders"]] == [proc.pid]

        # A CLI ingest joins the server serve started and leaves it running when it exits.
        r = _cli("ingest", str(OTHER_DOC), "--json", env=env, timeout=180)
        assert r.returncode == 0, r.stderr
        assert postmaster_pid(pg_dir) == pid, "the CLI command restarted or stopped serve's server"
        for _ in range(3):
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
            assert ready.status_code == 200, ready.text
        found = httpx.get(f"http://127.0.0.1:{port}/v1/catalog/search", params={"q": "x"}, timeout=30)
        assert found.status_code == 200, found.text

        # Stopping by hand is refused while serve holds it, naming the holder.
        refused = _cli("db", "stop", env=env)
        assert refused.returncode == 2
        assert f"pid {proc.pid}" in refused.stderr and "in use" in refused.stderr
        assert postmaster_pid(pg_dir) == pid
    finally:
        code, out = stop(proc)
    assert code == 143, out
    assert_no_postgres(pg_dir)


def test_killed_holder_is_recognised_as_stale(ingested_home: tuple[Path, dict[str, str]]) -> None:
    home, env = ingested_home
    pg_dir = (home / "pg").resolve()
    proc = start_serve(env, _free_port())
    pid = postmaster_pid(pg_dir)
    proc.kill()  # SIGKILL: no clean-up can run; the server stays up with a dead holder
    proc.wait(30)
    assert postmaster_pid(pg_dir) == pid and postgres_of(pg_dir)

    st = json.loads(_cli("db", "status", "--json", env=env).stdout)
    assert st["running"] and st["holders"] == [], "a dead process must not count as a holder"

    # The next command joins the orphaned server, and stops it when it leaves (it is the last holder).
    r = _cli("search", "policy", "--json", env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert_no_postgres(pg_dir)

    # `libromind db stop` stops a server left behind.
    proc = start_serve(env, _free_port())
    proc.kill()
    proc.wait(30)
    assert postgres_of(pg_dir)
    r = _cli("db", "stop", env=env)
    assert r.returncode == 0 and "stopped" in r.stdout, r.stderr
    assert_no_postgres(pg_dir)
