"""Browser-test fixtures: the real app (uvicorn subprocess on a free port, embedded PostgreSQL with a demo
subset) and real headless Chromium driven by Playwright. Missing Chromium fails loudly (never skips).

Host pages on foreign origins are served by two small local HTTP servers (real loopback origins: Chromium's
local-network-access rules block a public page from loading scripts off 127.0.0.1): the "shop" origin is in
the app's CORS allowlist, the "evil" origin is not.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import TEMPLATE_DB, _with_db

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "web"
SECRET = "browser-test-secret-browser-test-secret"


class HostSite:
    """A third-party web site (its own origin) whose pages tests set: ``site.put("/blog", html)``."""

    def __init__(self, port: int) -> None:
        pages: dict[str, str] = {}
        self.pages = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                body = pages.get(self.path.split("?")[0])
                data = (body or "not found").encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def put(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.origin + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def host_sites() -> Iterator[dict[str, HostSite]]:
    """Two embedding sites: ``shop`` (CORS-allowed) and ``evil`` (not). Fixed ports from
    ``LIBROMIND_TEST_WEB_HOST_PORTS=shop,evil`` when reusing a hand-started server."""
    ports = [int(p) for p in os.environ.get("LIBROMIND_TEST_WEB_HOST_PORTS", "0,0").split(",")]
    sites = {"shop": HostSite(ports[0]), "evil": HostSite(ports[1])}
    try:
        yield sites
    finally:
        for site in sites.values():
            site.close()


@dataclass
class WebServer:
    base_url: str
    db_url: str
    log_path: Path

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.db_url, row_factory=dict_row) as conn:
            return list(conn.execute(sql, params).fetchall())

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is required for the browser tests but {CHROMIUM} is missing: "
            "install it with `apt-get install -y chromium` (never `playwright install`).",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def web_server(request: pytest.FixtureRequest, host_sites: dict[str, HostSite]) -> Iterator[WebServer]:
    """The app under test. ``LIBROMIND_TEST_WEB_URL`` + ``LIBROMIND_TEST_WEB_DB_URL`` reuse a server started
    by hand with ``python -m tests.integration.web.server`` (quick iterations); otherwise one is started."""
    url = os.environ.get("LIBROMIND_TEST_WEB_URL")
    if url:
        yield WebServer(url.rstrip("/"), os.environ["LIBROMIND_TEST_WEB_DB_URL"], Path(os.devnull))
        return
    yield from _start_server(
        request.getfixturevalue("pg_server_url"),
        request.getfixturevalue("pg_template"),
        host_sites["shop"].origin,
    )


def _start_server(pg_server_url: str, pg_template: str, allowed_origin: str) -> Iterator[WebServer]:
    name = f"t_web_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    db_url = _with_db(pg_server_url, name)
    tmp = Path(tempfile.mkdtemp(prefix="libromind-web-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
    env.update(
        {
            "LIBROMIND_DATABASE_URL": db_url,
            "LIBROMIND_HOME": str(tmp / "home"),
            "LIBROMIND_DEMO_DATA": "false",
            "LIBROMIND_SESSION_SECRET": SECRET,
            "LIBROMIND_CORS_ORIGINS": f'["{allowed_origin}"]',
            "LIBROMIND_LOG_JSON": "false",
            "LIBROMIND_LLM": "offline",
            "LIBROMIND_CACHE": "pgvector",
            "LIBROMIND_INDEX": "pgvector",
            "LIBROMIND_QUEUE": "inline",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    log_path = tmp / "server.log"
    log_file = open(log_path, "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.web.server", "--port", str(port), "--data-dir", str(tmp)],
        cwd=REPO,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = WebServer(f"http://127.0.0.1:{port}", db_url, log_path)
    try:
        deadline = time.monotonic() + 420
        while True:
            if proc.poll() is not None:
                pytest.fail(f"web server exited with {proc.returncode}:\n{server.log_tail()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"web server not ready in time:\n{server.log_tail()}", pytrace=False)
            try:
                if httpx.get(server.base_url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log_file.close()
        if log_path.exists():  # keep the server's log next to the screenshots
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log_path, ARTIFACTS / "server.log")
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def playwright_driver(web_server: WebServer) -> Iterator[Any]:
    """Playwright's sync driver, per test: its event loop must not outlive the test (asyncio tests and
    ``asyncio.run`` in other fixtures need the thread free), and the app server must start first."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def browser(playwright_driver: Any, chromium_path: str, tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium (fresh user-data-dir: new session token, new customer) per test."""
    ctx = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=chromium_path,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
    )
    ctx.set_default_timeout(60_000)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    ctx.errors = errors  # type: ignore[attr-defined]
    try:
        yield ctx
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def host_page(base_url: str, *, extra: str = "") -> str:
    """A third-party page embedding the widget with the documented one-line snippet."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Some bookshop blog</title>
<style>* {{ font-family: 'Comic Sans MS' !important; color: red !important; }}
button {{ display: none; }}</style>
</head><body><h1>Our reading blog</h1><p><a href="#top" id="first-link">A link before the widget</a></p>
<p>Lorem ipsum dolor sit amet.</p>{extra}
<script src="{base_url}/static/widget.js" data-title="Bookstore help"></script>
</body></html>"""
