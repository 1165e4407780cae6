"""`libromind slack` through the real CLI in a subprocess: configuration errors, and serving signed
events from /slack/events against the test database and a fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.integration.slack.conftest import SECRET, event_body, mention, sign
from tests.integration.slack.fake_slack import FakeSlack

REPO = Path(__file__).resolve().parents[3]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
    env.update({"LIBROMIND_LOG_JSON": "false", "LIBROMIND_DEMO_DATA": "false", "HF_HUB_OFFLINE": "1"})
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_missing_configuration_is_named(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "libromind", "slack", "--socket"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(LIBROMIND_HOME=str(tmp_path), LIBROMIND_SLACK_BOT_TOKEN="x"),
    )
    assert r.returncode == 2
    assert "LIBROMIND_SLACK_APP_TOKEN" in r.stderr and "LIBROMIND_SLACK_BOT_TOKEN" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "libromind", "discord"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(LIBROMIND_HOME=str(tmp_path)),
    )
    assert r.returncode == 2 and "LIBROMIND_DISCORD_TOKEN" in r.stderr


def _slack_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "libromind", "slack", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(**env),
    )


def test_an_empty_signing_secret_is_refused_at_start(tmp_path: Path) -> None:
    """HTTP mode needs a real signing secret: an empty or blank one is named, before anything starts.
    The port is taken on purpose: a CLI that let the empty secret through would stop there instead."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for blank in ("", "   "):
            r = _slack_cli(
                "--port",
                port,
                LIBROMIND_HOME=str(tmp_path),
                LIBROMIND_SLACK_BOT_TOKEN="xoxb-test",
                LIBROMIND_SLACK_SIGNING_SECRET=blank,
            )
            assert r.returncode == 2, r.stdout + r.stderr
            assert "LIBROMIND_SLACK_SIGNING_SECRET" in r.stderr, r.stderr
            assert "Traceback" not in r.stderr and "in use" not in r.stderr, r.stderr


def test_socket_mode_needs_an_app_token_not_a_signing_secret(tmp_path: Path) -> None:
    unreachable = dict(
        LIBROMIND_HOME=str(tmp_path),
        LIBROMIND_DATABASE_URL="postgresql://u:p@127.0.0.1:9/none",
        LIBROMIND_DB_CONNECT_TIMEOUT="2",
        LIBROMIND_SLACK_BOT_TOKEN="xoxb-test",
        LIBROMIND_SLACK_SIGNING_SECRET="",
    )
    r = _slack_cli("--socket", **unreachable, LIBROMIND_SLACK_APP_TOKEN="")
    assert r.returncode == 2 and "LIBROMIND_SLACK_APP_TOKEN" in r.stderr, r.stdout + r.stderr
    # with an app token, the empty signing secret is no obstacle: it gets as far as the database
    r = _slack_cli("--socket", **unreachable, LIBROMIND_SLACK_APP_TOKEN="xapp-test")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "LIBROMIND_SLACK_SIGNING_SECRET" not in r.stderr and "LIBROMIND_SLACK_APP_TOKEN" not in r.stderr
    assert "127.0.0.1" in r.stderr, r.stderr  # the unreachable database is what stopped it


async def test_cli_serves_signed_events(tmp_path: Path, db_url: str) -> None:
    fake = await FakeSlack().start()
    port = _free_port()
    env = _env(
        LIBROMIND_HOME=str(tmp_path / "home"),
        LIBROMIND_DATABASE_URL=db_url,
        LIBROMIND_SLACK_SIGNING_SECRET=SECRET,
        LIBROMIND_SLACK_BOT_TOKEN="xoxb-test",
        LIBROMIND_SLACK_BASE_URL=fake.base_url,
        LIBROMIND_SLACK_GROUPS='{"U100": ["staff"]}',
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "libromind",
        "slack",
        "--port",
        str(port),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.returncode is None, (await proc.stdout.read()).decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "libromind slack never became ready"
                await asyncio.sleep(0.5)
            raw = json.dumps(event_body(mention("What is the return policy?")))
            bad = await http.post(
                "/slack/events",
                content=raw,
                headers={"Content-Type": "application/json", **sign(raw, secret="wrong")},
            )
            assert bad.status_code == 401
            t0 = time.monotonic()
            ok = await http.post(
                "/slack/events", content=raw, headers={"Content-Type": "application/json", **sign(raw)}
            )
            assert ok.status_code == 200 and time.monotonic() - t0 < 3.0  # acked before the answer
            await fake.wait_for("chat.postMessage", wait_s=120)
            while not any(u.get("blocks") for u in fake.of("chat.update")):  # the final reply has blocks
                assert time.monotonic() < deadline + 120, fake.summary()
                await asyncio.sleep(0.1)
            metrics = (await http.get("/metrics")).text
            assert 'channel="slack"' in metrics
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await fake.stop()
