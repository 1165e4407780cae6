"""``langgraph dev`` serves the graph from langgraph.json (and the web app as its http app); a
langgraph_sdk client runs turns and reads the thread state."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LANGGRAPH = Path(shutil.which("langgraph") or (Path(os.sys.executable).parent / "langgraph"))


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
    from langgraph_sdk import get_client

    url, log = dev_server
    client = get_client(url=url)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input={"message": "Hello!"}, context={"principal": "customer:dev1"})
    state = await client.threads.get_state(tid)
    assert state["values"]["steps"] == ["answer"], state
    assert "assistant" in state["values"]["answer"].lower()

    await client.runs.wait(
        tid,
        "agent",
        input={"message": "What is the first response target on Slack?"},
        context={"principal": "employee:dev2"},
    )
    state = await client.threads.get_state(tid)
    values = state["values"]
    assert "retrieve" in values["steps"] and "2 business hours" in values["answer"], values
    assert values["citations"][0]["source"] == "support-channels.md"
    # conversation memory lives in the server's checkpointer
    await client.runs.wait(
        tid, "agent", input={"message": "what about for Discord?"}, context={"principal": "employee:dev2"}
    )
    state = await client.threads.get_state(tid)
    assert "4 hours" in state["values"]["answer"]
    assert len(state["values"]["messages"]) == 6

    # the same server mounts the web app (http.app in langgraph.json)
    assert await asyncio.to_thread(_status, f"{url}/healthz") == 200
