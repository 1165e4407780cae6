"""Resource limits through the real HTTP server (``libromind serve`` in a subprocess, real PostgreSQL):
request bodies capped before they are read (413), per-principal and per-IP rate limits (429 +
Retry-After) on /v1/query, /v1/chat, /v1/session and uploads, and limits shared through a real Redis."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from channels.web.deps import mint_session_token
from memory.principals import Principal
from memory.settings import Settings
from tests.conftest import TEMPLATE_DB, _with_db
from tests.integration.redis_server import redis_stack_server

REPO = Path(__file__).resolve().parents[3]
SECRET = "limits-test-secret-0123456789abcdef0123456789"
MB = 1024 * 1024


@dataclass
class Served:
    base_url: str
    port: int
    pid: int
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _database(pg_server_url: str) -> Iterator[str]:
    name = f"t_lim_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    try:
        yield _with_db(pg_server_url, name)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _serve(db_url: str, **env_extra: str) -> Iterator[Served]:
    """``libromind serve`` on a free port with the given LIBROMIND_* settings; stopped on exit."""
    tmp = Path(tempfile.mkdtemp(prefix="libromind-limits-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
    env.update(
        {
            "LIBROMIND_DATABASE_URL": db_url,
            "LIBROMIND_HOME": str(tmp / "home"),
            "LIBROMIND_DEMO_DATA": "false",
            "LIBROMIND_SESSION_SECRET": SECRET,
            "LIBROMIND_LOG_JSON": "false",
            "LIBROMIND_LLM": "offline",
            "LIBROMIND_CACHE": "off",
            "LIBROMIND_QUEUE": "inline",
            "HF_HUB_OFFLINE": "1",
            **env_extra,
        }
    )
    log = tmp / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "libromind", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", port, proc.pid, log)
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{served.tail()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready in time:\n{served.tail()}", pytrace=False)
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(served.base_url + "/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.3)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# Small limits so a test can exhaust them; every test uses its own client IP (X-Forwarded-For from
# 127.0.0.1 is honoured by uvicorn, as from a trusted reverse proxy) so their counters never meet.
LIMITED = {
    "LIBROMIND_RATE_LIMIT_CHAT": "3/minute",
    "LIBROMIND_RATE_LIMIT_CHAT_IP": "5/minute",
    "LIBROMIND_RATE_LIMIT_SESSION_IP": "3/minute",
    "LIBROMIND_RATE_LIMIT_UPLOAD": "2/minute",
    "LIBROMIND_RATE_LIMIT_UPLOAD_IP": "10/minute",
}


@pytest.fixture(scope="module")
def server(pg_server_url: str, pg_template: str) -> Iterator[Served]:
    with _database(pg_server_url) as db_url, _serve(db_url, **LIMITED) as served:
        yield served


def _token(principal: str) -> dict[str, str]:
    """A session token as the host site's backend mints it (same secret as the server)."""
    settings = Settings(session_secret=SecretStr(SECRET), _env_file=None)  # type: ignore[call-arg]
    return {"Authorization": "Bearer " + mint_session_token(settings, Principal.parse(principal))}


def _ip(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{n}"}


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _read_response(sock: socket.socket, timeout: float) -> bytes:
    """What the server answered within ``timeout`` s (b"" if nothing: it is still reading the body)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = next(
                    (
                        int(h.split(b":")[1])
                        for h in head.split(b"\r\n")
                        if h.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    break
            sock.settimeout(2)
    except (TimeoutError, ConnectionError):
        pass
    return data


def _status_and_json(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _send_quietly(sock: socket.socket, data: bytes) -> int:
    """Send ``data`` until the server stops taking it; how many bytes went."""
    sent = 0
    sock.settimeout(5)
    try:
        while sent < len(data):
            sent += sock.send(data[sent : sent + 65536])
    except (OSError, TimeoutError):
        pass
    return sent


def test_a_40_mb_json_body_is_refused_before_it_is_read(server: Served) -> None:
    total = 40 * MB
    body = b'{"message": "' + b"a" * (total - 16) + b'"}'
    rss_before = _rss_kb(server.pid)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = (
            f"POST /v1/query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Forwarded-For: 203.0.113.1\r\n\r\n"
        ).encode()
        sock.sendall(head + body[:MB])  # 1 MB of 40: the server must answer without waiting for the rest
        raw = _read_response(sock, timeout=10)
        assert raw, "no answer before the client sent the whole body: the server waits to read 40 MB"
        status, payload = _status_and_json(raw)
        assert status == 413, raw[:500]
        assert payload["error"] == "too_large" and "KiB" in str(payload["message"])
        sent = MB + _send_quietly(sock, body[MB:])  # the server does not read the rest either
    grown_mb = (_rss_kb(server.pid) - rss_before) / 1024
    assert grown_mb < 20, f"server memory grew {grown_mb:.0f} MB for a refused body (sent {sent} bytes)"
    r = httpx.get(server.base_url + "/healthz", timeout=5)
    assert r.status_code == 200


def test_a_chunked_body_is_cut_off_once_it_passes_the_cap(server: Served) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"POST /v1/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nX-Forwarded-For: 203.0.113.2\r\n\r\n"
        )
        chunk = b"a" * 16384
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        sock.sendall(b'6\r\n{"m":"\r\n' + framed * 64)  # 1 MB in chunks, never the final 0-chunk
        raw = _read_response(sock, timeout=10)
        assert raw, "no answer to an unfinished 1 MB chunked body: the server keeps reading it"
        status, payload = _status_and_json(raw)
        assert status == 413 and payload["error"] == "too_large"


def test_small_bodies_pass_and_uploads_keep_their_own_limit(server: Served) -> None:
    r = httpx.post(server.base_url + "/v1/session", headers=_ip(3), timeout=10)
    assert r.status_code == 200, r.text
    auth = {"Authorization": "Bearer " + r.json()["token"], **_ip(3)}
    r = httpx.post(
        server.base_url + "/v1/query", json={"message": "How do I return a book?"}, headers=auth, timeout=120
    )
    assert r.status_code == 200, r.text
    # a 200 KiB document is more than the JSON cap but well within LIBROMIND_MAX_UPLOAD_BYTES
    doc = ("Returns are accepted within 30 days. " * 6000).encode()
    r = httpx.post(
        server.base_url + "/v1/documents",
        files={"file": ("returns.txt", doc, "text/plain")},
        data={"acl": "internal"},
        headers={**_token("employee:uploader"), **_ip(3)},
        timeout=120,
    )
    assert r.status_code == 202, r.text


def _query(server: Served, headers: dict[str, str], n: int) -> httpx.Response:
    return httpx.post(
        server.base_url + "/v1/query",
        json={"message": f"Question number {n} about shipping"},
        headers=headers,
        timeout=120,
    )


def test_a_burst_of_queries_gets_429_with_retry_after(server: Served) -> None:
    headers = {**_token("customer:burst"), **_ip(4)}
    for n in range(3):
        r = _query(server, headers, n)
        assert r.status_code == 200, r.text
    r = _query(server, headers, 3)
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "rate_limited" and "account" in r.json()["message"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # the stream endpoint shares the budget
    r = httpx.post(server.base_url + "/v1/chat", json={"message": "hello"}, headers=headers, timeout=30)
    assert r.status_code == 429 and "Retry-After" in r.headers
    # another customer from another address is not affected
    assert _query(server, {**_token("customer:other"), **_ip(5)}, 0).status_code == 200


def test_the_per_ip_limit_applies_across_tokens(server: Served) -> None:
    """Fresh principals (a new token per request) do not escape the per-address limit."""
    codes = [_query(server, {**_token(f"customer:sybil-{n}"), **_ip(6)}, n).status_code for n in range(6)]
    assert codes == [200] * 5 + [429], codes
    r = _query(server, {**_token("customer:sybil-new"), **_ip(6)}, 9)
    assert r.status_code == 429 and "address" in r.json()["message"]
    assert int(r.headers["Retry-After"]) >= 1


def test_session_minting_and_uploads_are_rate_limited(server: Served) -> None:
    codes = [
        httpx.post(server.base_url + "/v1/session", headers=_ip(7), timeout=10).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429], codes
    employee = {**_token("employee:bulk"), **_ip(8)}
    codes = []
    for n in range(3):
        r = httpx.post(
            server.base_url + "/v1/documents",
            files={
                "file": (f"note-{n}.txt", f"Note {n}: shelves are dusted on Mondays.".encode(), "text/plain")
            },
            data={"acl": "internal"},
            headers=employee,
            timeout=120,
        )
        codes.append(r.status_code)
    assert codes == [202, 202, 429], codes
    assert r.json()["error"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1


def test_limits_are_shared_across_app_instances_through_redis(pg_server_url: str, pg_template: str) -> None:
    limits = {"LIBROMIND_RATE_LIMIT_SESSION_IP": "3/minute", "LIBROMIND_RATE_LIMIT_CHAT": "2/minute"}
    with (
        redis_stack_server() as redis_url,
        _database(pg_server_url) as db_url,
        _serve(db_url, LIBROMIND_REDIS_URL=redis_url, **limits) as a,
        _serve(db_url, LIBROMIND_REDIS_URL=redis_url, **limits) as b,
    ):
        codes = [
            httpx.post(s.base_url + "/v1/session", headers=_ip(9), timeout=10).status_code
            for s in (a, b, a, b)
        ]
        assert codes == [200, 200, 200, 429], codes
        headers = {**_token("customer:roaming"), **_ip(10)}
        assert _query(a, headers, 0).status_code == 200
        assert _query(b, headers, 1).status_code == 200
        r = _query(a, headers, 2)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
