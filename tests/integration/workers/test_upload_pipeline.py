"""Issue 12 item 4: the upload pipeline neither loses nor strands work.

Real HTTP uploads (multipart) to the whole app; arq against a real Redis (a full queue, Redis down, a
failed push, a retried job); the orphan sweep through ``libromind jobs run``; and the inline queue
across a real server crash (SIGKILL of a uvicorn process mid-job) and restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from memory.db import Database
from memory.principals import Principal
from memory.settings import Settings
from tests.integration.knowledge._data import DOC_A, DOC_B
from tests.integration.workers._http import auth, serve_app
from tests.integration.workers.conftest import RedisServer, _free_port
from tools.deps import Deps, use
from workers import jobs as jobs_module
from workers.arq_queue import build_worker

REPO = Path(__file__).resolve().parents[3]
E1 = "employee:e1"


@pytest.fixture
async def arq_deps(arq_settings: Settings, db: Database) -> AsyncIterator[Deps]:
    d = await Deps.build(arq_settings, db=db)
    use(d)
    yield d
    for value in list(d.extras.values()):
        closer = getattr(value, "aclose", None)
        if closer is not None:
            await closer()


async def _drain(settings: Settings) -> None:
    worker = build_worker(settings, burst=True, max_jobs=2)
    try:
        await worker.async_run()
    finally:
        await worker.close()


async def _upload(c: httpx.AsyncClient, deps: Deps, text: str, source: str) -> httpx.Response:
    return await c.post(
        "/v1/documents",
        headers=auth(deps, E1),
        files={"file": (source, text.encode(), "text/markdown")},
        data={"source": source, "acl": "internal"},
    )


async def _counts(db: Database) -> dict[str, int]:
    out = {}
    for table in ("uploads", "documents", "jobs"):
        row = await db.fetchrow(f"SELECT count(*) AS n FROM {table}")
        out[table] = int(row["n"]) if row else -1
    return out


async def test_full_queue_is_refused_before_anything_is_stored(arq_deps: Deps) -> None:
    """A full arq queue stored the bytes and a ``queued`` document row, then answered an error."""
    arq_deps.settings = arq_deps.settings.model_copy(update={"queue_max_depth": 1})
    async with serve_app(arq_deps) as c:
        first = await _upload(c, arq_deps, DOC_A, "a.md")
        assert first.status_code == 202, first.text
        refused = await _upload(c, arq_deps, DOC_B, "b.md")
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["detail"]["error"] == "queue_full"
    assert await _counts(arq_deps.db) == {"uploads": 1, "documents": 1, "jobs": 1}
    assert await arq_deps.db.fetchrow("SELECT source FROM documents") == {"source": "a.md"}


async def test_redis_down_leaves_nothing_behind(arq_deps: Deps, redis_server: RedisServer) -> None:
    async with serve_app(arq_deps) as c:
        redis_server.stop()
        r = await _upload(c, arq_deps, DOC_A, "a.md")
        assert r.status_code == 503, r.text
        assert "Retry-After" in r.headers and "Nothing was accepted" in r.json()["detail"]["message"]
        assert "Error" not in r.text and "redis://" not in r.text
    assert await _counts(arq_deps.db) == {"uploads": 0, "documents": 0, "jobs": 0}


async def test_failed_push_rolls_back_the_stored_upload(
    arq_deps: Deps, arq_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis fails after the bytes are stored (the push itself): nothing stays, a replaced document
    keeps its indexed state."""
    from arq.connections import ArqRedis

    async with serve_app(arq_deps) as c:
        ok = await _upload(c, arq_deps, DOC_A, "a.md")
        assert ok.status_code == 202
        await _drain(arq_settings)
        doc_id = ok.json()["document_id"]
        before = await arq_deps.db.fetchrow(
            "SELECT status, pending_hash FROM documents WHERE id = %s", doc_id
        )
        assert before == {"status": "indexed", "pending_hash": None}

        async def broken_push(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("Connection reset by peer")

        monkeypatch.setattr(ArqRedis, "enqueue_job", broken_push)
        for text, source in ((DOC_B, "b.md"), (DOC_A.replace("30", "45"), "a.md")):
            r = await _upload(c, arq_deps, text, source)
            assert r.status_code == 503, r.text
    assert await _counts(arq_deps.db) == {"uploads": 0, "documents": 1, "jobs": 1}
    after = await arq_deps.db.fetchrow("SELECT status, pending_hash FROM documents WHERE id = %s", doc_id)
    assert after == before


async def test_retried_job_still_has_the_uploaded_bytes(
    arq_deps: Deps, arq_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes were deleted after the first attempt, so the retry failed 'no longer available'."""
    real = jobs_module.run_ingest
    calls = {"n": 0}

    async def flaky_ingest(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database connection lost")
        return await real(*args, **kwargs)

    monkeypatch.setattr(jobs_module, "run_ingest", flaky_ingest)
    async with serve_app(arq_deps) as c:
        r = await _upload(c, arq_deps, DOC_A, "a.md")
        assert r.status_code == 202
        await _drain(arq_settings)
        job = (await c.get(r.json()["job_url"], headers=auth(arq_deps, E1))).json()
        assert job["status"] == "done", job
        doc = (await c.get(r.json()["status_url"], headers=auth(arq_deps, E1))).json()
        assert doc["status"] == "indexed" and doc["chunk_count"] >= 1
    assert calls["n"] == 2
    row = await arq_deps.db.fetchrow("SELECT attempts FROM jobs WHERE id = %s", r.json()["job_id"])
    assert row == {"attempts": 2}
    assert (await _counts(arq_deps.db))["uploads"] == 0  # dropped once the job was done


def _cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
    assert settings.database_url is not None
    env.update(
        {
            "LIBROMIND_DATABASE_URL": settings.database_url.get_secret_value(),
            "LIBROMIND_LOG_JSON": "true",
            "LIBROMIND_HOME": str(settings.home),
            "COLUMNS": "200",
        }
    )
    return env


async def test_sweep_removes_orphans_left_by_a_crash(deps: Deps) -> None:
    """Orphans as the old pipeline left them: bytes with no job, a document ``queued`` with no job."""
    db = deps.db
    orphan = await db.fetchrow(
        "INSERT INTO uploads (filename, data, created_at) VALUES ('x.md', 'x', now() - interval '2 hours') "
        "RETURNING id::text AS id"
    )
    live = await db.fetchrow(
        "INSERT INTO uploads (filename, data, created_at) VALUES ('y.md', 'y', now() - interval '2 hours') "
        "RETURNING id::text AS id"
    )
    assert orphan and live
    await db.execute(
        "INSERT INTO jobs (kind, status, payload) VALUES ('ingest_document', 'queued', %s::jsonb)",
        json.dumps({"upload_id": live["id"], "document_id": "00000000-0000-0000-0000-000000000001"}),
    )
    await db.execute(
        "INSERT INTO documents (source, acl, status, pending_hash, updated_at) "
        "VALUES ('stuck.md', 'internal', 'queued', 'abc', now() - interval '2 hours')"
    )
    r = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "libromind",
            "jobs",
            "run",
            "sweep_orphans",
            "--payload",
            '{"older_than_s": 600}',
        ],
        cwd=REPO,
        env=_cli_env(deps.settings),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout[r.stdout.index("{") :])
    assert result["status"] == "done" and result["result"] == {"uploads": 1, "documents": 1, "jobs": 0}
    left = await db.fetch("SELECT id::text AS id FROM uploads")
    assert left == [{"id": live["id"]}]
    doc = await db.fetchrow("SELECT status, error_code, error FROM documents WHERE source = 'stuck.md'")
    assert doc is not None and doc["status"] == "failed" and doc["error_code"] == "abandoned"
    assert "upload the file again" in doc["error"]


# ---- inline queue across a crash and restart of a real server ------------------------------------

SECRET = "restart-test-secret-0123456789abcdef-0123456789"


def _big_doc(seed: int, paragraphs: int = 100) -> bytes:
    """Distinct text (no embedding-cache hits) long enough that ingesting it takes seconds."""
    rng = random.Random(seed)
    words = [f"w{seed}x{i}" for i in range(4000)] + ["book", "order", "shipping", "refund", "return", "store"]
    parts = [f"# Handbook {seed}\n"]
    for p in range(paragraphs):
        if p % 20 == 0:
            parts.append(f"\n## Part {p // 20}\n")
        parts.append(" ".join(rng.choice(words) for _ in range(150)) + ".\n")
    return "\n".join(parts).encode()


class _Server:
    def __init__(self, db_url: str, home: Path, log: Path) -> None:
        self.db_url, self.home, self.log = db_url, home, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""

    def start(self) -> None:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
        env.update(
            {
                "LIBROMIND_DATABASE_URL": self.db_url,
                "LIBROMIND_HOME": str(self.home),
                "LIBROMIND_DEMO_DATA": "false",
                "LIBROMIND_SESSION_SECRET": SECRET,
                "LIBROMIND_LOG_JSON": "false",
                "LIBROMIND_LLM": "offline",
                "LIBROMIND_CACHE": "pgvector",
                "LIBROMIND_INDEX": "pgvector",
                "LIBROMIND_QUEUE": "inline",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
            }
        )
        out = open(self.log, "ab")  # noqa: SIM115 - the child holds it; closed with the process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "channels.web.app:app",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        pytest.fail(f"server not ready in time:\n{self.tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[_Server]:
    s = _Server(db_url, tmp_path / "home", tmp_path / "server.log")
    yield s
    if s.proc is not None and s.proc.poll() is None:
        s.proc.terminate()
        try:
            s.proc.wait(30)
        except subprocess.TimeoutExpired:
            s.kill()


def _token(tmp_path: Path, db_url: str) -> dict[str, str]:
    from channels.web.deps import mint_session_token

    s = Settings(
        home=tmp_path / "home",
        database_url=SecretStr(db_url),
        session_secret=SecretStr(SECRET),
        _env_file=None,
    )  # type: ignore[call-arg]
    return {"Authorization": f"Bearer {mint_session_token(s, Principal.parse(E1))}"}


def test_inline_jobs_survive_a_server_crash(server: _Server, db_url: str, tmp_path: Path) -> None:
    """Accepted inline jobs were lost on restart: left ``running``/``queued`` (and documents ``embedding``)
    forever. Now the next start takes them over and finishes them."""
    server.start()
    h = _token(tmp_path, db_url)
    accepted = []
    for i in range(3):  # two run (concurrency 2), the third waits
        r = httpx.post(
            server.base + "/v1/documents",
            headers=h,
            files={"file": (f"handbook-{i}.md", _big_doc(i), "text/markdown")},
            data={"acl": "internal"},
            timeout=60,
        )
        assert r.status_code == 202, r.text
        accepted.append(r.json())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # crash while the first job is busy
        st = httpx.get(server.base + accepted[0]["job_url"], headers=h, timeout=10).json()
        if st["status"] == "running":
            break
        if st["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    server.kill()
    with psycopg.connect(db_url) as conn:  # the crash left unfinished work (else this proves nothing)
        states = [r[0] for r in conn.execute("SELECT status FROM jobs ORDER BY created_at").fetchall()]
    assert states[0] == "running" and states[2] in ("queued", "running"), states

    t_restart = time.monotonic()
    server.start()
    print(f"restart ready in {time.monotonic() - t_restart:.1f} s")
    deadline = time.monotonic() + 400
    pending = {a["job_id"] for a in accepted}
    final: dict[str, dict[str, Any]] = {}
    while pending and time.monotonic() < deadline:
        for a in accepted:
            if a["job_id"] in pending:
                st = httpx.get(server.base + a["job_url"], headers=h, timeout=10).json()
                if st["status"] in ("done", "failed"):
                    final[a["job_id"]] = st
                    pending.discard(a["job_id"])
        time.sleep(0.5)
    print(f"jobs done {time.monotonic() - t_restart:.1f} s after restart")
    assert not pending, f"jobs never finished after the restart: {pending}\n{server.tail()}"
    for a in accepted:
        assert final[a["job_id"]]["status"] == "done", final[a["job_id"]]
        doc = httpx.get(server.base + a["status_url"], headers=h, timeout=10).json()
        assert doc["status"] == "indexed" and doc["chunk_count"] > 100, doc
    with psycopg.connect(db_url) as conn:
        left = conn.execute("SELECT count(*) FROM uploads").fetchone()
    assert left == (0,)
