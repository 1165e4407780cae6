"""``langgraph dev`` serves the graph from langgraph.json (and the web app as its http app); a
langgraph_sdk client runs turns and reads the thread state.

The server's custom auth (langgraph.json ``auth``: channels/langgraph_auth.py) takes the principal from the
verified session token: no token or a forged one is refused, a principal claimed in the run context is
overridden, and a thread is visible to its owner only."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from memory.principals import Principal

REPO = Path(__file__).resolve().parents[3]
LANGGRAPH = Path(shutil.which("langgraph") or (Path(sys.executable).parent / "langgraph"))
SECRET = "langgraph-dev-test-secret-0123456789abcdef"


def _token(principal: str, secret: str = SECRET) -> str:
    from channels.web.deps import mint_session_token
    from memory.settings import Settings

    settings = Settings(session_secret=secret, _env_file=None)  # type: ignore[call-arg, arg-type]
    return mint_session_token(settings, Principal.parse(principal))


def _client(url: str, principal: str | None = None, *, token: str | None = None):  # noqa: ANN202
    from langgraph_sdk import get_client

    token = token or (_token(principal) if principal else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return get_client(url=url, headers=headers)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ok(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"langgraph dev exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"langgraph dev did not come up in {timeout} s:\n{log.read_text()[-4000:]}")


def _start(port: int, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    assert LANGGRAPH.exists(), "langgraph-cli[inmem] is not installed"
    log = Path(tempfile.mkstemp(prefix="langgraph-dev-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(LANGGRAPH), "dev", "--port", str(port), "--no-reload", "--no-browser"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


def _status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
        return int(resp.status)


@pytest.fixture
async def dev_server(deps, tmp_path: Path):
    from libromind.bootstrap import INTERNAL_DOCS
    from tools.knowledge import ingest_paths

    await ingest_paths(sorted(p for p in INTERNAL_DOCS.glob("*.md") if p.name != "README.md"), "internal")
    port = _free_port()
    env = {
        **os.environ,
        "LIBROMIND_DATABASE_URL": deps.db.url,
        "LIBROMIND_HOME": str(tmp_path / "home"),
        "LIBROMIND_CACHE": "off",
        "LIBROMIND_LLM": "offline",
        "LIBROMIND_DEMO_DATA": "false",
        "LIBROMIND_SESSION_SECRET": SECRET,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    }
    proc, log = await asyncio.to_thread(_start, port, env)
    try:
        await asyncio.to_thread(_wait_ok, f"http://127.0.0.1:{port}/ok", proc, log)
        yield f"http://127.0.0.1:{port}", log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


async def test_dev_server_runs_turns_and_exposes_state(dev_server) -> None:
    url, log = dev_server
    client = _client(url, "employee:dev2")
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input={"message": "Hello!"})
    state = await client.threads.get_state(tid)
    assert state["values"]["steps"] == ["answer"], state
    assert "assistant" in state["values"]["answer"].lower()

    await client.runs.wait(tid, "agent", input={"message": "What is the first response target on Slack?"})
    state = await client.threads.get_state(tid)
    values = state["values"]
    assert "retrieve" in values["steps"] and "2 business hours" in values["answer"], values
    assert values["citations"][0]["source"] == "support-channels.md"
    # conversation memory lives in the server's checkpointer
    await client.runs.wait(tid, "agent", input={"message": "what about for Discord?"})
    state = await client.threads.get_state(tid)
    assert "4 hours" in state["values"]["answer"]
    assert len(state["values"]["messages"]) == 6

    # the same server mounts the web app (http.app in langgraph.json)
    assert await asyncio.to_thread(_status, f"{url}/healthz") == 200


INTERNAL_QUESTION = "What is the first response target on Slack?"


async def test_dev_server_takes_the_principal_from_the_verified_token(dev_server) -> None:
    """The attack: reach the LangGraph API and claim a principal (no token, a token signed with the old
    public default secret, or a customer's token with ``employee:*`` in the run context)."""
    url, log = dev_server
    # a customer's real token, claiming an employee in the context (and in configurable): ignored
    customer = _client(url, "customer:eve")
    thread = await customer.threads.create()
    tid = thread["thread_id"]
    await customer.runs.wait(
        tid, "agent", input={"message": INTERNAL_QUESTION}, context={"principal": "employee:boss:hr"}
    )
    values = (await customer.threads.get_state(tid))["values"]
    assert "2 business hours" not in values["answer"], values
    assert all(c.get("source") != "support-channels.md" for c in values.get("citations") or []), values
    stateless = await customer.runs.wait(
        None,
        "agent",
        input={"message": INTERNAL_QUESTION},
        config={"configurable": {"principal": "employee:x"}},
    )
    assert "2 business hours" not in str(stateless), stateless

    forged = URLSafeTimedSerializer("dev-only-change-me", salt="libromind-session").dumps("employee:boss")
    for anonymous in (_client(url), _client(url, token=forged), _client(url, token="not-a-token")):
        with pytest.raises(httpx.HTTPStatusError) as err:
            await anonymous.threads.create()
        assert err.value.response.status_code == 401
        with pytest.raises(httpx.HTTPStatusError) as err:
            await anonymous.runs.wait(
                None, "agent", input={"message": INTERNAL_QUESTION}, context={"principal": "employee:boss"}
            )
        assert err.value.response.status_code == 401

    # the same question from a verified employee token is answered (the check above is not vacuous)
    employee = _client(url, "employee:dev3")
    etid = (await employee.threads.create())["thread_id"]
    await employee.runs.wait(etid, "agent", input={"message": INTERNAL_QUESTION})
    assert "2 business hours" in (await employee.threads.get_state(etid))["values"]["answer"]

    # threads belong to their creator: the employee cannot read or run in the customer's thread
    with pytest.raises(httpx.HTTPStatusError) as err:
        await employee.threads.get_state(tid)
    assert err.value.response.status_code in (403, 404)
    with pytest.raises(httpx.HTTPStatusError):
        await employee.runs.wait(tid, "agent", input={"message": "hello"})
    assert tid not in [t["thread_id"] for t in await employee.threads.search()]
