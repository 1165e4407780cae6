"""POST /v1/documents (202 + job), GET /v1/documents/{id}, GET /v1/jobs/{id}; streamed 413 refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from channels.web.deps import mint_session_token
from channels.web.routes.documents import get_queue, router
from memory.principals import Principal
from tests.integration.knowledge._data import DOC_A, fixture_bytes
from tools.deps import Deps

MB = 1024 * 1024


@pytest.fixture
async def client(deps: Deps) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    app.state.deps = deps
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c
    queue = deps.extras.pop("queue", None)
    if queue is not None:
        await queue.aclose()


def auth(deps: Deps, principal: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_session_token(deps.settings, Principal.parse(principal))}"}


async def wait_job(client: httpx.AsyncClient, deps: Deps, job_id: str) -> dict[str, Any]:
    await get_queue(deps).join()
    r = await client.get(f"/v1/jobs/{job_id}", headers=auth(deps, "employee:e1"))
    assert r.status_code == 200
    return r.json()


async def test_upload_indexes_in_background(client: httpx.AsyncClient, deps: Deps) -> None:
    h = auth(deps, "employee:e1")
    r = await client.post(
        "/v1/documents",
        headers=h,
        files={"file": ("returns.md", DOC_A.encode(), "text/markdown")},
        data={"acl": "internal", "source": "help/returns.md"},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    job = await wait_job(client, deps, body["job_id"])
    assert job["status"] == "done" and job["progress"] == job["total"] == 3
    doc = (await client.get(f"/v1/documents/{body['document_id']}", headers=h)).json()
    assert doc["status"] == "indexed" and doc["source"] == "help/returns.md" and doc["acl"] == "internal"
    assert doc["chunk_count"] >= 1
    assert (await deps.db.fetchrow("SELECT count(*) AS n FROM uploads"))["n"] == 0  # type: ignore[index]
    # idempotency key: the same request twice is one job
    h2 = {**h, "Idempotency-Key": "abc"}
    files = {"file": ("returns.md", DOC_A.encode(), "text/markdown")}
    j1 = (await client.post("/v1/documents", headers=h2, files=files)).json()["job_id"]
    j2 = (await client.post("/v1/documents", headers=h2, files=files)).json()["job_id"]
    assert j1 == j2


async def test_customers_cannot_upload_or_read_status(client: httpx.AsyncClient, deps: Deps) -> None:
    files = {"file": ("a.md", b"# A\n\ntext", "text/markdown")}
    assert (await client.post("/v1/documents", files=files)).status_code == 403
    assert (
        await client.post("/v1/documents", files=files, headers=auth(deps, "customer:c1"))
    ).status_code == 403
    assert (await client.get("/v1/jobs/x", headers=auth(deps, "customer:c1"))).status_code == 403
    h = auth(deps, "employee:e1")
    assert (await client.get("/v1/documents/not-a-uuid", headers=h)).status_code == 404
    assert (await client.get("/v1/jobs/00000000-0000-0000-0000-000000000000", headers=h)).status_code == 404


@pytest.mark.parametrize(
    ("fixture", "filename", "code"),
    [
        ("encrypted.pdf", "locked.pdf", "encrypted_pdf"),
        ("scanned.pdf", "scan.pdf", "no_text_layer"),
        ("empty.pdf", "empty.pdf", "empty"),
        ("invalid-utf8.txt", "legacy.txt", "invalid_encoding"),
    ],
)
async def test_bad_upload_fails_with_reason(
    client: httpx.AsyncClient, deps: Deps, fixture: str, filename: str, code: str
) -> None:
    h = auth(deps, "employee:e1")
    r = await client.post("/v1/documents", headers=h, files={"file": (filename, fixture_bytes(fixture))})
    assert r.status_code == 202
    body = r.json()
    job = await wait_job(client, deps, body["job_id"])
    assert job["status"] == "failed" and job["error"].startswith(code)
    assert job["result"]["error_code"] == code
    doc = (await client.get(f"/v1/documents/{body['document_id']}", headers=h)).json()
    assert doc["status"] == "failed" and doc["error_code"] == code and doc["error"]
    n = (await deps.db.fetchrow("SELECT count(*) AS n FROM chunks WHERE doc_id = %s", body["document_id"]))[  # type: ignore[index]
        "n"
    ]
    assert n == 0
    # the queue survives: a good upload afterwards is indexed
    ok = (await client.post("/v1/documents", headers=h, files={"file": ("ok.md", DOC_A.encode())})).json()
    assert (await wait_job(client, deps, ok["job_id"]))["status"] == "done"


async def test_200_mb_upload_is_refused_while_streaming(client: httpx.AsyncClient, deps: Deps) -> None:
    """No Content-Length (chunked): the route stops reading at the configured maximum and answers 413."""
    limit = deps.settings.max_upload_bytes
    boundary = "xyzBOUNDARY"
    sent = 0
    piece = b"a" * MB

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        for _ in range(200):
            sent += len(piece)
            yield piece
        yield f"\r\n--{boundary}--\r\n".encode()

    r = await client.post(
        "/v1/documents",
        headers={**auth(deps, "employee:e1"), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )
    assert r.status_code == 413 and r.json()["detail"]["error"] == "too_large"
    assert sent <= limit + 2 * MB < 200 * MB
    assert (await deps.db.fetchrow("SELECT count(*) AS n FROM documents"))["n"] == 0  # type: ignore[index]


async def test_declared_oversize_is_refused_before_reading(client: httpx.AsyncClient, deps: Deps) -> None:
    limit = deps.settings.max_upload_bytes
    h = {
        **auth(deps, "employee:e1"),
        "Content-Type": "multipart/form-data; boundary=b",
        "Content-Length": str(200 * MB),
    }
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        sent += 1
        yield b"--b\r\n"
        await asyncio.sleep(0)

    r = await client.post("/v1/documents", headers=h, content=body())
    assert r.status_code == 413 and limit < 200 * MB


async def test_upload_needs_a_file_field(client: httpx.AsyncClient, deps: Deps) -> None:
    h = auth(deps, "employee:e1")
    r = await client.post("/v1/documents", headers=h, data={"acl": "public"}, files={"other": ("a.md", b"x")})
    assert r.status_code == 422
    r = await client.post(
        "/v1/documents", headers=h, files={"file": ("a.md", b"# A\n\nx")}, data={"acl": "secret"}
    )
    assert r.status_code == 422 and r.json()["detail"]["error"] == "invalid_acl"
    r = await client.post(
        "/v1/documents",
        headers=h,
        content=b"raw",
    )
    assert r.status_code == 415
