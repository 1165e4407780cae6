"""Security regressions of the web app, attacked through real HTTP (httpx) against real uvicorn servers.

* Sessions: no built-in secret (a token signed with the old public default is refused); a generated
  secret is kept in LIBROMIND_HOME with mode 0600 and reused; short secrets and a secret file others can
  read are refused at start; changing the secret ends old sessions.
* Anonymous visitors never share an identity or a thread.
* Browser security headers (CSP, frame-ancestors, nosniff).
* The database going away answers JSON ``{error, message}``, not a plain-text 500.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.integration.web.conftest import REPO, WebServer

OLD_PUBLIC_DEFAULT = "dev-only-change-me"
_ISBN = re.compile(r"ISBN (\d{13})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _forge(secret: str, principal: str) -> str:
    """A session token as the web app signs them (itsdangerous, salt ``libromind-session``)."""
    return URLSafeTimedSerializer(secret, salt="libromind-session").dumps(principal)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _env(home: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
    env.update(
        {
            "LIBROMIND_DATABASE_URL": db_url,
            "LIBROMIND_HOME": str(home),
            "LIBROMIND_DEMO_DATA": "false",
            "LIBROMIND_LOG_JSON": "false",
            "LIBROMIND_LLM": "offline",
            "LIBROMIND_QUEUE": "inline",
            "LIBROMIND_CACHE": "off",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            **extra,
        }
    )
    return env


@contextmanager
def serve(env: dict[str, str], log: Path, *, expect_failure: bool = False) -> Iterator[Server]:
    """``uvicorn channels.web.app:app`` (settings from the environment) until ready, or until it exits."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "channels.web.app:app", "--host", "127.0.0.1"]
            + ["--port", str(port), "--log-level", "warning"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None:
                if expect_failure:
                    break
                pytest.fail(f"server exited with {proc.returncode}:\n{server.log_text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start in time:\n{server.log_text()[-4000:]}")
            try:
                if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        if expect_failure and proc.poll() is None:
            pytest.fail("the server started although it should have refused to")
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _session(url: str) -> tuple[str, str]:
    r = httpx.post(url + "/v1/session", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["token"], r.json()["principal"]


# ------------------------------------------------------------------------------------------ item 1: secrets
def test_generated_secret_is_private_reused_and_forged_tokens_are_refused(
    db_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = _env(home, db_url)  # no LIBROMIND_SESSION_SECRET: `make run` needs nothing
    secret_file = home / "session.secret"
    with serve(env, tmp_path / "first.log") as s:
        # the attack: tokens signed with the old public default for an employee and a customer
        employee = _bearer(_forge(OLD_PUBLIC_DEFAULT, "employee:mallory:docs,finance"))
        customer = _bearer(_forge(OLD_PUBLIC_DEFAULT, "customer:victim"))
        attempts = [
            httpx.get(s.url + "/v1/documents/doc-1", headers=employee, timeout=10),
            httpx.get(s.url + "/v1/jobs/job-1", headers=employee, timeout=10),
            httpx.get(s.url + "/v1/orders", headers=customer, timeout=10),
            httpx.get(s.url + "/v1/cart", headers=customer, timeout=10),
            httpx.post(s.url + "/v1/query", json={"message": "hi"}, headers=employee, timeout=30),
        ]
        for r in attempts:
            assert r.status_code == 401, (r.request.url, r.status_code, r.text)

        # the secret was generated at start, private to this user
        assert secret_file.is_file()
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        secret = secret_file.read_text().strip()
        assert len(secret.encode()) >= 32 and secret != OLD_PUBLIC_DEFAULT

        # a real session works, and survives a restart (the secret is reused, not regenerated)
        token, _ = _session(s.url)
        assert httpx.get(s.url + "/v1/cart", headers=_bearer(token), timeout=10).status_code == 200

    with serve(env, tmp_path / "second.log") as s:
        assert secret_file.read_text().strip() == secret
        assert httpx.get(s.url + "/v1/cart", headers=_bearer(token), timeout=10).status_code == 200

    # a secret file other users may have read is refused (not silently repaired): rotate it instead
    secret_file.chmod(0o644)
    with serve(env, tmp_path / "loose.log", expect_failure=True) as s:
        assert s.proc.returncode != 0
        assert "mode 0644" in s.log_text() and "Refusing" in s.log_text()
    assert secret_file.read_text().strip() == secret  # never overwritten

    # rotation: deleting the generated secret makes a new one; the old sessions stop working
    secret_file.unlink()
    with serve(env, tmp_path / "rotated.log") as s:
        assert secret_file.read_text().strip() != secret
        r = httpx.get(s.url + "/v1/cart", headers=_bearer(token), timeout=10)
        assert r.status_code == 401 and r.json()["error"] == "bad_session"


def test_short_configured_secret_is_refused_at_start(db_url: str, tmp_path: Path) -> None:
    env = _env(tmp_path / "home", db_url, LIBROMIND_SESSION_SECRET=OLD_PUBLIC_DEFAULT)
    with serve(env, tmp_path / "short.log", expect_failure=True) as s:
        assert s.proc.returncode != 0
        assert "LIBROMIND_SESSION_SECRET is too short" in s.log_text()
        assert "at least 32" in s.log_text()


def test_changing_the_configured_secret_ends_old_sessions(db_url: str, tmp_path: Path) -> None:
    first, second = "a" * 40, "b" * 40
    with serve(_env(tmp_path / "home", db_url, LIBROMIND_SESSION_SECRET=first), tmp_path / "a.log") as s:
        token, _ = _session(s.url)
        assert httpx.get(s.url + "/v1/cart", headers=_bearer(token), timeout=10).status_code == 200
    with serve(_env(tmp_path / "home", db_url, LIBROMIND_SESSION_SECRET=second), tmp_path / "b.log") as s:
        assert httpx.get(s.url + "/v1/cart", headers=_bearer(token), timeout=10).status_code == 401
    assert not (tmp_path / "home" / "session.secret").exists()  # a configured secret is never written


# ------------------------------------------------------------------------------- item 9: anonymous sessions
def _ask(url: str, message: str, thread: str, token: str | None) -> httpx.Response:
    headers = _bearer(token) if token else {}
    return httpx.post(
        url + "/v1/query", json={"message": message, "thread": thread}, headers=headers, timeout=120
    )


def test_anonymous_clients_never_share_a_conversation(web_server: WebServer) -> None:
    url = web_server.base_url
    listing, followup = "find books by Stephen King", "tell me more about the second one"

    # the attack on the old code: two clients without a token, same thread id
    a = _ask(url, listing, "support-1", None)
    b = _ask(url, followup, "support-1", None)
    a_books = _ISBN.findall(a.text) if a.status_code == 200 else []
    assert not (len(a_books) >= 2 and a_books[1] in b.text), f"client B saw client A's conversation: {b.text}"
    for r in (a, b):
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "session_required"

    # the widget's way: each visitor gets its own session (and identity)
    token_a, who_a = _session(url)
    token_b, who_b = _session(url)
    assert who_a != who_b and who_a.startswith("customer:web-")

    first = _ask(url, listing, "support-1", token_a)
    assert first.status_code == 200, first.text
    books = _ISBN.findall(first.json()["answer"])
    assert len(books) >= 2, first.json()

    # client B in the same thread id does not see A's listing
    other = _ask(url, followup, "support-1", token_b)
    assert other.status_code == 200, other.text
    assert books[1] not in other.text, other.json()

    # ... while A's own follow-up does resolve "the second one" from A's conversation
    own = _ask(url, followup, "support-1", token_a)
    assert own.status_code == 200, own.text
    assert books[1] in own.text, own.json()


# ---------------------------------------------------------------------------------- item 13: headers
def test_pages_send_security_headers(web_server: WebServer, host_sites: dict[str, Any]) -> None:
    url = web_server.base_url
    shop = host_sites["shop"].origin
    page = httpx.get(url + "/", timeout=10)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["frame-ancestors"].split() == ["'self'", shop]
    assert directives["script-src"] == "'self'" and directives["object-src"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert page.headers["x-content-type-options"] == "nosniff"
    for path in ("/static/widget.js", "/static/widget.css", "/healthz"):
        r = httpx.get(url + path, timeout=10)
        assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff", path
    r = httpx.post(url + "/v1/session", timeout=10)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors" in r.headers["content-security-policy"]


# ------------------------------------------------------------------------------- item 14: database down
def test_database_down_answers_json_errors(db_url: str, pg_server_url: str, tmp_path: Path) -> None:
    env = _env(tmp_path / "home", db_url, LIBROMIND_DB_CONNECT_TIMEOUT="2")
    with serve(env, tmp_path / "dbdown.log") as s:
        token, _ = _session(s.url)
        assert httpx.get(s.url + "/v1/cart", headers=_bearer(token), timeout=10).status_code == 200
        # the database goes away under the running server
        name = db_url.split("?")[0].rsplit("/", 1)[1]
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        calls = [
            ("GET", "/v1/catalog/search?q=king", {}),
            ("GET", "/v1/books/9780451524935", {}),
            ("GET", "/v1/cart", _bearer(token)),
            ("GET", "/v1/orders", _bearer(token)),
            ("POST", "/v1/cart", _bearer(token)),
        ]
        for method, path, headers in calls:
            body = {"isbn": "9780451524935", "quantity": 1} if method == "POST" else None
            r = httpx.request(method, s.url + path, headers=headers, json=body, timeout=30)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/json"), (path, r.text)
            assert r.json()["error"] == "database_unavailable", r.text
            assert "database" in r.json()["message"] and "Traceback" not in r.text
        assert httpx.get(s.url + "/readyz", timeout=10).status_code == 503


def test_only_allowed_origins_can_frame_the_chat_page_in_chromium(
    browser: Any, web_server: WebServer, host_sites: dict[str, Any]
) -> None:
    """Clickjacking: a foreign site frames the chat page. Real Chromium enforces frame-ancestors."""
    url = web_server.base_url
    html = f'<!doctype html><html><body><iframe id="f" src="{url}/" width="800" height="600"></iframe></body></html>'
    page = browser.new_page()
    page.goto(host_sites["shop"].put("/framed", html))  # in LIBROMIND_CORS_ORIGINS: allowed
    framed = page.frame_locator("#f")
    assert framed.locator("h1").inner_text(timeout=30_000) == "libromind"
    assert framed.locator("#chat").count() == 1

    evil = browser.new_page()
    evil.goto(host_sites["evil"].put("/framed", html))  # not allowed: the browser refuses to render it
    evil.wait_for_timeout(1500)
    child = next(f for f in evil.frames if f != evil.main_frame)
    assert child.url != url + "/" or child.locator("h1").count() == 0
    assert child.locator("#chat").count() == 0
