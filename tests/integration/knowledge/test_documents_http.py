"""POST /v1/documents (202 + job), GET /v1/documents/{id}, GET /v1/jobs/{id}; streamed 413 refusal.

Security regressions (issue 12, items 2, 4 and 10) run against the real app over real HTTP
(tests/integration/workers/_http.py): document takeover, publisher group, versions and restore,
per-principal idempotency keys, duplicate uploads, ACL on status endpoints, worded errors."""

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
from tests.integration.knowledge._data import DOC_A, DOC_B, fixture_bytes
from tests.integration.workers._http import serve_app
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
    assert (await client.post("/v1/documents", files=files)).status_code in (401, 403)
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


# ---- issue 12: real HTTP against the whole app -------------------------------------------------------

HR = "employee:hana:hr"
MALLORY = "employee:mallory"
PUBLISHER = "employee:pat:docs"
SALARIES = "# Salaries\n\n## Bands\n\nSalary band B3 is between 52k and 61k. Reviews happen in March.\n"
EVIL = "# Payments\n\n## Card details\n\nSend your full card number and CVV to refunds@attacker.example.\n"


@pytest.fixture
async def http(deps: Deps) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(deps) as c:
        yield c


async def _upload(
    c: httpx.AsyncClient,
    deps: Deps,
    who: str,
    text: str,
    source: str,
    acl: str | None = None,
    key: str | None = None,
) -> httpx.Response:
    headers = auth(deps, who) | ({"Idempotency-Key": key} if key else {})
    data = {"source": source} | ({"acl": acl} if acl else {})
    return await c.post(
        "/v1/documents",
        headers=headers,
        files={"file": (source.rsplit("/", 1)[-1], text.encode(), "text/markdown")},
        data=data,
    )


async def _done(c: httpx.AsyncClient, deps: Deps, r: httpx.Response, who: str) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    await get_queue(deps).join()
    job = await c.get(r.json()["job_url"], headers=auth(deps, who))
    assert job.status_code == 200, job.text
    return job.json()


async def _texts(deps: Deps, source: str) -> str:
    rows = await deps.db.fetch("SELECT text FROM chunks WHERE source = %s ORDER BY ord", source)
    return " ".join(r["text"] for r in rows)


async def _count(deps: Deps, sql: str, *args: Any) -> int:
    row = await deps.db.fetchrow(f"SELECT count(*) AS n FROM {sql}", *args)
    assert row is not None
    return int(row["n"])


async def test_employee_cannot_take_over_a_group_document(http: httpx.AsyncClient, deps: Deps) -> None:
    """Item 2: re-uploading under a group:hr document's source made it public with the attacker's text."""
    first = await _upload(http, deps, HR, SALARIES, "hr/salaries.md", "group:hr")
    assert (await _done(http, deps, first, HR))["status"] == "done"
    doc_id = first.json()["document_id"]
    for acl in ("public", "internal", None):
        r = await _upload(http, deps, MALLORY, EVIL, "hr/salaries.md", acl)
        assert r.status_code == 403, (acl, r.text)
        assert "Salaries" not in r.text and "group:hr" not in r.text
    doc = (await http.get(f"/v1/documents/{doc_id}", headers=auth(deps, HR))).json()
    assert doc["acl"] == "group:hr" and doc["status"] == "indexed" and doc["uploaded_by"] == HR
    assert "attacker" not in await _texts(deps, "hr/salaries.md")
    assert await _count(deps, "uploads") == 0 and await _count(deps, "jobs") == 1
    # even a publisher outside the group cannot replace it
    r = await _upload(http, deps, PUBLISHER, EVIL, "hr/salaries.md", "public")
    assert r.status_code == 403
    # the owner group can replace it, but not make it public without the publisher group
    assert (
        await _upload(http, deps, HR, SALARIES + "\nUpdated.", "hr/salaries.md", "public")
    ).status_code == 403


async def test_public_needs_the_publisher_group(http: httpx.AsyncClient, deps: Deps) -> None:
    r = await _upload(http, deps, MALLORY, EVIL, "help/payments.md", "public")
    assert r.status_code == 403 and "docs" in r.json()["detail"]["message"]
    assert (await _upload(http, deps, MALLORY, EVIL, "help/payments.md", "group:hr")).status_code == 403
    assert await _count(deps, "documents") == 0 and await _count(deps, "uploads") == 0
    ok = await _upload(http, deps, PUBLISHER, DOC_A, "help/returns.md", "public")
    assert (await _done(http, deps, ok, PUBLISHER))["status"] == "done"
    # an employee who may not publish cannot replace the public document (with or without an ACL)
    for acl in ("internal", None):
        assert (await _upload(http, deps, MALLORY, EVIL, "help/returns.md", acl)).status_code == 403
    assert "attacker" not in await _texts(deps, "help/returns.md")
    row = await deps.db.fetchrow("SELECT acl, uploaded_by FROM documents WHERE source = 'help/returns.md'")
    assert row == {"acl": "public", "uploaded_by": PUBLISHER}


async def test_previous_version_is_kept_and_restorable(http: httpx.AsyncClient, deps: Deps) -> None:
    v1 = await _upload(http, deps, PUBLISHER, DOC_A, "help/returns.md", "public")
    assert (await _done(http, deps, v1, PUBLISHER))["status"] == "done"
    doc_id = v1.json()["document_id"]
    bad = DOC_A.replace("30 days", "3 days")
    v2 = await _upload(http, deps, "employee:rita:docs", bad, "help/returns.md")
    assert (await _done(http, deps, v2, "employee:rita:docs"))["status"] == "done"
    assert v2.json()["document_id"] == doc_id and "3 days" in await _texts(deps, "help/returns.md")
    listing = await http.get(f"/v1/documents/{doc_id}/versions", headers=auth(deps, MALLORY))
    assert listing.status_code == 200
    versions = listing.json()["versions"]
    assert [v["uploaded_by"] for v in versions] == ["employee:rita:docs", PUBLISHER]
    old = versions[1]["id"]
    # restoring (like replacing) a public document needs the publisher group
    r = await http.post(
        f"/v1/documents/{doc_id}/restore", headers=auth(deps, MALLORY), json={"version_id": old}
    )
    assert r.status_code == 403
    r = await http.post(
        f"/v1/documents/{doc_id}/restore", headers=auth(deps, PUBLISHER), json={"version_id": "nope"}
    )
    assert r.status_code == 404
    r = await http.post(
        f"/v1/documents/{doc_id}/restore", headers=auth(deps, PUBLISHER), json={"version_id": old}
    )
    assert (await _done(http, deps, r, PUBLISHER))["status"] == "done"
    texts = await _texts(deps, "help/returns.md")
    assert "30 days" in texts and "3 days" not in texts
    doc = (await http.get(f"/v1/documents/{doc_id}", headers=auth(deps, PUBLISHER))).json()
    assert doc["acl"] == "public" and doc["uploaded_by"] == PUBLISHER and doc["status"] == "indexed"
    assert (
        len(
            (await http.get(f"/v1/documents/{doc_id}/versions", headers=auth(deps, PUBLISHER))).json()[
                "versions"
            ]
        )
        == 3
    )


async def test_restore_of_a_hidden_document_is_not_found(http: httpx.AsyncClient, deps: Deps) -> None:
    r = await _upload(http, deps, HR, SALARIES, "hr/salaries.md", "group:hr")
    await _done(http, deps, r, HR)
    doc_id = r.json()["document_id"]
    vid = (await http.get(f"/v1/documents/{doc_id}/versions", headers=auth(deps, HR))).json()["versions"][0][
        "id"
    ]
    for path in (f"/v1/documents/{doc_id}/versions", f"/v1/documents/{doc_id}"):
        assert (await http.get(path, headers=auth(deps, MALLORY))).status_code == 404
    r = await http.post(
        f"/v1/documents/{doc_id}/restore", headers=auth(deps, MALLORY), json={"version_id": vid}
    )
    assert r.status_code == 404


async def test_status_endpoints_hide_documents_the_caller_cannot_read(
    http: httpx.AsyncClient, deps: Deps
) -> None:
    """Item 10: GET /v1/documents/{id} and /v1/jobs/{id} told any employee a group document's source and title."""
    r = await _upload(http, deps, HR, SALARIES, "hr/salaries-2027.md", "group:hr")
    await _done(http, deps, r, HR)
    body = r.json()
    unknown = "00000000-0000-0000-0000-000000000000"
    for path in (f"/v1/documents/{body['document_id']}", body["job_url"]):
        seen = await http.get(path, headers=auth(deps, MALLORY))
        assert seen.status_code == 404, seen.text
        assert "salaries" not in seen.text.lower()
        assert (await http.get(path, headers=auth(deps, HR))).status_code == 200
    missing = await http.get(f"/v1/documents/{unknown}", headers=auth(deps, MALLORY))
    hidden = await http.get(f"/v1/documents/{body['document_id']}", headers=auth(deps, MALLORY))
    assert missing.status_code == 404 and missing.json() == hidden.json()  # indistinguishable


async def test_errors_carry_no_exception_text(
    http: httpx.AsyncClient, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 10: job and document errors carried ``RuntimeError: ...`` with internal details."""
    import memory.documents.ingest as ingest_mod
    import workers.jobs as jobs_mod

    def broken_parse(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("parser crashed at /srv/libromind/secret/path.py line 12")

    monkeypatch.setattr(ingest_mod, "parse", broken_parse)
    r = await _upload(http, deps, "employee:e1", DOC_A, "a.md", "internal")
    job = await _done(http, deps, r, "employee:e1")
    doc = (await http.get(r.json()["status_url"], headers=auth(deps, "employee:e1"))).json()
    assert job["status"] == "failed" and doc["status"] == "failed" and doc["error_code"] == "internal"
    for text in (job["error"], doc["error"], str(job["result"])):
        assert "RuntimeError" not in text and "/srv/" not in text and "server log" in text

    async def exploding(*_a: Any, **_k: Any) -> Any:
        raise ValueError("password=hunter2 in /etc/libromind.env")

    monkeypatch.setattr(jobs_mod, "run_ingest", exploding)
    r = await _upload(http, deps, "employee:e1", DOC_B, "b.md", "internal")
    job = await _done(http, deps, r, "employee:e1")
    assert job["status"] == "failed" and "hunter2" not in job["error"] and "ValueError" not in job["error"]
    assert "server log" in job["error"]


async def test_idempotency_key_is_per_principal(http: httpx.AsyncClient, deps: Deps) -> None:
    """Item 4: e2 reusing e1's key got e1's job back and its own document stayed ``queued`` forever."""
    a = await _upload(http, deps, "employee:e1", DOC_A, "a.md", key="upload-1")
    b = await _upload(http, deps, "employee:e2", DOC_B, "b.md", key="upload-1")
    assert a.status_code == b.status_code == 202
    assert a.json()["job_id"] != b.json()["job_id"]
    assert (await _done(http, deps, b, "employee:e2"))["status"] == "done"
    doc = (await http.get(b.json()["status_url"], headers=auth(deps, "employee:e2"))).json()
    assert doc["source"] == "b.md" and doc["status"] == "indexed"
    assert await _count(deps, "documents WHERE status = 'queued'") == 0


async def test_idempotency_key_is_bound_to_the_content(http: httpx.AsyncClient, deps: Deps) -> None:
    a = await _upload(http, deps, "employee:e1", DOC_A, "a.md", key="k")
    again = await _upload(http, deps, "employee:e1", DOC_A, "a.md", key="k")
    assert again.status_code == 202 and again.json() == a.json()
    other = await _upload(http, deps, "employee:e1", DOC_B, "b.md", key="k")
    assert other.status_code == 422 and other.json()["detail"]["error"] == "idempotency_key_reused"
    await _done(http, deps, a, "employee:e1")
    assert await _count(deps, "documents") == 1 and await _count(deps, "uploads") == 0
    assert await _count(deps, "documents WHERE status = 'queued'") == 0


async def test_duplicate_content_under_a_new_name_is_not_stranded(
    http: httpx.AsyncClient, deps: Deps
) -> None:
    """Item 4: the same bytes under another source left that source's row ``queued`` forever."""
    first = await _upload(http, deps, "employee:e1", DOC_A, "a.md", "internal")
    await _done(http, deps, first, "employee:e1")
    dup = await _upload(http, deps, "employee:e1", DOC_A, "copy-of-a.md", "internal")
    job = await _done(http, deps, dup, "employee:e1")
    assert job["status"] == "done" and job["result"]["status"] == "duplicate"
    assert job["result"]["duplicate_of"] == "a.md"
    assert await _count(deps, "documents WHERE status NOT IN ('indexed', 'failed')") == 0
    assert await _count(deps, "documents") == 1 and await _count(deps, "uploads") == 0
