"""Document upload and status: POST /v1/documents (202 + job), GET /v1/documents/{id} (+ /versions,
POST /restore), GET /v1/jobs/{id}.

Uploads are parsed from the request stream as they arrive and refused with 413 as soon as the file
passes ``LIBROMIND_MAX_UPLOAD_BYTES`` (or at once when Content-Length already says so), so an
oversized upload is never read whole. Only employees may upload or read ingestion status.

Access (memory.documents.access): an upload's ACL must be one the uploader can read, ``public`` needs
the publisher group (LIBROMIND_PUBLISH_GROUP); replacing an existing source needs reading it and
publishing at its ACL. Documents and jobs the caller cannot read answer 404, like unknown ids.
Pipeline: Idempotency-Key is per principal and bound to the content hash (same key, other bytes: 422);
queue capacity is checked before anything is stored (429 + Retry-After); a job that cannot be enqueued
leaves nothing stored (compensating delete). Errors are worded; details go to the log.
"""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from python_multipart.multipart import MultipartParser, parse_options_header

from channels.web.deps import get_deps, get_principal
from memory.documents import store
from memory.documents.access import AccessDenied, can_read, check_publish, check_replace
from memory.documents.parse import content_hash
from memory.principals import Principal, PrincipalError, validate_acl
from tools.deps import Deps
from tools.errors import ToolError
from workers.queue import find_job

__all__ = ["router", "get_queue", "UploadTooLarge"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["documents"])
_MULTIPART_SLACK = 64 * 1024  # headers, boundaries and small fields around the file
_MAX_KEY = 200
_DOC_JOBS = ("ingest_document", "restore_document")


class UploadTooLarge(Exception):
    pass


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status, detail={"error": code, "message": message}, headers=headers)


def _queue_error(exc: Exception) -> HTTPException:
    """A refused enqueue as 429/503 with Retry-After (worded; details logged)."""
    retry = getattr(exc, "retry_after_s", None)
    headers = {"Retry-After": str(int(retry))} if retry is not None else {"Retry-After": "30"}
    if isinstance(exc, ToolError):
        return _error(exc.http_status, exc.code, exc.message, headers)
    log.error("enqueue failed: %s: %s", type(exc).__name__, exc)
    return _error(
        503, "queue_unavailable", "The job queue is unavailable; nothing was accepted. Retry.", headers
    )


def require_employee(principal: Principal = Depends(get_principal)) -> Principal:  # noqa: B008
    if not principal.is_employee:
        raise _error(403, "forbidden", "Only employees can add documents or see their status.")
    return principal


def get_queue(deps: Deps) -> Any:
    queue = deps.extras.get("queue")
    if queue is None:
        from workers.queue import make_queue

        queue = make_queue(deps.settings, deps.db)
        deps.extras["queue"] = queue
    return queue


class _Form:
    """Collects multipart parts from a stream; the file part is capped at ``limit`` bytes."""

    def __init__(self, limit: int, field_limit: int = 4096) -> None:
        self.limit, self.field_limit = limit, field_limit
        self.fields: dict[str, str] = {}
        self.file: bytearray | None = None
        self.filename: str | None = None
        self._name: str | None = None
        self._buf = bytearray()
        self._hfield = bytearray()
        self._hvalue = bytearray()
        self._headers: dict[str, bytes] = {}

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_header_field": lambda d, s, e: self._hfield.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._hvalue.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
        }

    def _begin(self) -> None:
        self._name, self._buf, self._headers = None, bytearray(), {}

    def _header_end(self) -> None:
        self._headers[self._hfield.decode("latin-1").lower()] = bytes(self._hvalue)
        self._hfield, self._hvalue = bytearray(), bytearray()

    def _headers_done(self) -> None:
        _, opts = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts and self._name == "file":
            self.filename = opts[b"filename"].decode("utf-8", "replace")
            self.file = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "file" and self.file is not None:
            self.file.extend(data[start:end])
            if len(self.file) > self.limit:
                raise UploadTooLarge()
        else:
            self._buf.extend(data[start:end])
            if len(self._buf) > self.field_limit:
                raise UploadTooLarge()

    def _end(self) -> None:
        if self._name and self._name != "file":
            self.fields[self._name] = self._buf.decode("utf-8", "replace")


def _too_large(limit: int) -> HTTPException:
    return _error(
        413,
        "too_large",
        f"The file is larger than the {limit / 1024 / 1024:.0f} MB upload limit. "
        "Split it into smaller files and upload them separately.",
    )


def _accepted(job_id: str, doc_id: str) -> JSONResponse:
    return JSONResponse(
        {
            "job_id": job_id,
            "document_id": doc_id,
            "status": "queued",
            "status_url": f"/v1/documents/{doc_id}",
            "job_url": f"/v1/jobs/{job_id}",
        },
        status_code=202,
    )


def _replay(job: dict[str, Any], digest: str, source: str) -> JSONResponse:
    """The response for a repeated Idempotency-Key: the first job, if it was for the same content."""
    payload = job.get("payload") or {}
    if payload.get("content_hash") != digest or payload.get("source") != source:
        raise _error(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different upload; use a new key for new content.",
        )
    return _accepted(job["id"], payload.get("document_id", ""))


def _scoped_key(request: Request, principal: Principal, what: str) -> str | None:
    key = request.headers.get("idempotency-key")
    if not key:
        return None
    if len(key) > _MAX_KEY:
        raise _error(422, "invalid_input", f"The Idempotency-Key is longer than {_MAX_KEY} characters.")
    return f"{what}:{principal.key}:{key}"


async def _submit(
    deps: Deps,
    kind: str,
    payload: dict[str, Any],
    key: str | None,
    principal: Principal,
    staged: store.StagedUpload | None = None,
) -> tuple[str, bool]:
    """Enqueue; on failure (or another request's job for the same key) undo what was staged."""
    queue = get_queue(deps)
    try:
        job_id, created = await queue.submit(kind, payload, idempotency_key=key, submitted_by=str(principal))
    except Exception as exc:  # noqa: BLE001 - refused: leave nothing behind, answer 429/503
        if staged is not None:
            await store.unstage_upload(deps.db, staged)
        raise _queue_error(exc) from None
    if not created and staged is not None:
        await store.unstage_upload(deps.db, staged)
    return job_id, created


async def _check_capacity(deps: Deps) -> None:
    try:
        await get_queue(deps).check_capacity()
    except Exception as exc:  # noqa: BLE001 - QueueFull (429) or an unreachable queue (503)
        raise _queue_error(exc) from None


@router.post("/v1/documents", status_code=202, summary="Upload a document; ingestion runs in the background.")
async def upload_document(
    request: Request,
    principal: Principal = Depends(require_employee),  # noqa: B008
) -> JSONResponse:
    deps = get_deps(request)
    limit = deps.settings.max_upload_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + _MULTIPART_SLACK:
        raise _too_large(limit)
    ctype, opts = parse_options_header(request.headers.get("content-type"))
    boundary = opts.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise _error(
            415, "unsupported_media_type", "Send the file as multipart/form-data with a 'file' field."
        )
    form = _Form(limit)
    parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
    read = 0
    try:
        async for piece in request.stream():
            read += len(piece)
            if read > limit + _MULTIPART_SLACK:
                raise UploadTooLarge()
            parser.write(piece)
        parser.finalize()
    except UploadTooLarge:
        log.info("upload refused after %s bytes (limit %s)", read, limit)
        raise _too_large(limit) from None
    except Exception as exc:  # malformed multipart
        log.info("unreadable upload: %s: %s", type(exc).__name__, exc)
        raise _error(400, "bad_request", "The upload could not be read as multipart/form-data.") from None
    if form.file is None or not form.filename:
        raise _error(422, "invalid_input", "Attach the document in a form field named 'file'.")
    filename = PurePath(form.filename.replace("\\", "/")).name or "upload"
    source = (form.fields.get("source") or filename).strip().lstrip("/")
    if not source or ".." in PurePath(source).parts:
        raise _error(422, "invalid_input", "The source must be a relative path without '..'.")
    existing = await store.get_document_by_source(deps.db, source)
    try:  # no ACL given: a replacement keeps the document's ACL, a new document is internal
        acl = validate_acl(form.fields.get("acl") or (existing["acl"] if existing else "internal"))
    except PrincipalError as exc:
        raise _error(422, "invalid_acl", str(exc)) from None
    try:
        if existing is not None:
            check_replace(principal, existing, acl, deps.settings.publish_group)
        else:
            check_publish(principal, acl, deps.settings.publish_group)
    except AccessDenied as exc:
        log.info("upload of %s by %s refused: %s", source, principal, exc.message)
        raise _error(403, "forbidden", exc.message) from None
    data = bytes(form.file)
    digest = content_hash(data)
    key = _scoped_key(request, principal, "upload")
    if key is not None and (prev := await find_job(deps.db, key=key)) is not None:
        return _replay(prev, digest, source)
    await _check_capacity(deps)  # before anything is stored
    staged = await store.stage_upload(
        deps.db,
        source,
        acl,
        digest=digest,
        filename=filename,
        data=data,
        uploaded_by=str(principal),
        prior=existing,
    )
    payload = {
        "upload_id": staged.upload_id,
        "filename": filename,
        "source": source,
        "acl": acl,
        "document_id": staged.doc_id,
        "content_hash": digest,
        "by": str(principal),
    }
    job_id, created = await _submit(deps, "ingest_document", payload, key, principal, staged)
    if not created:  # a concurrent request with the same key won
        prev = await find_job(deps.db, job_id=job_id)
        assert prev is not None
        return _replay(prev, digest, source)
    log.info("upload %s (%s, %s) by %s: job %s", source, acl, digest[:12], principal, job_id)
    return _accepted(job_id, staged.doc_id)


async def _readable_document(deps: Deps, doc_id: str, principal: Principal) -> dict[str, Any]:
    doc = await store.get_document(deps.db, doc_id)
    if doc is None or not can_read(principal, doc["acl"]):
        raise _error(404, "not_found", "No such document.")
    return doc


@router.get("/v1/documents/{doc_id}", summary="A document's ingestion status.")
async def get_document(doc_id: str, p: Principal = Depends(require_employee)) -> dict[str, Any]:  # noqa: B008
    from tools.errors import NotFound
    from tools.knowledge import document_status

    try:
        return await document_status(doc_id, principal=p)
    except NotFound:
        raise _error(404, "not_found", "No such document.") from None


@router.get("/v1/documents/{doc_id}/versions", summary="A document's kept versions (newest first).")
async def get_versions(
    doc_id: str,
    request: Request,
    p: Principal = Depends(require_employee),  # noqa: B008
) -> dict[str, Any]:
    deps = get_deps(request)
    doc = await _readable_document(deps, doc_id, p)
    versions = [v for v in await store.list_versions(deps.db, doc["id"]) if can_read(p, v["acl"])]
    return {"document_id": doc["id"], "version": doc["version"], "versions": versions}


class RestoreRequest(BaseModel):
    version_id: str = Field(max_length=64, description="A version id from GET /v1/documents/{id}/versions.")


@router.post(
    "/v1/documents/{doc_id}/restore",
    status_code=202,
    summary="Make a kept version of a document current again (re-indexed in the background).",
)
async def restore_document(
    doc_id: str,
    body: RestoreRequest,
    request: Request,
    p: Principal = Depends(require_employee),  # noqa: B008
) -> JSONResponse:
    deps = get_deps(request)
    doc = await _readable_document(deps, doc_id, p)
    version = await store.get_version(deps.db, doc["id"], body.version_id)
    if version is None or not can_read(p, version["acl"]):
        raise _error(404, "not_found", "No such version of this document.")
    try:
        check_replace(p, doc, version["acl"], deps.settings.publish_group)
    except AccessDenied as exc:
        raise _error(403, "forbidden", exc.message) from None
    key = _scoped_key(request, p, "restore")
    await _check_capacity(deps)
    payload = {
        "document_id": doc["id"],
        "version_id": version["id"],
        "source": doc["source"],
        "acl": version["acl"],
        "content_hash": version["content_hash"],
        "by": str(p),
    }
    job_id, _ = await _submit(deps, "restore_document", payload, key, p)
    log.info("restore of %s to version %s by %s: job %s", doc["source"], version["id"], p, job_id)
    return _accepted(job_id, doc["id"])


def _job_visible(job: dict[str, Any], principal: Principal) -> bool:
    """Document jobs are visible to their submitter and to those who can read their ACL."""
    if job["kind"] not in _DOC_JOBS:
        return True
    payload = job.get("payload") or {}
    by = job.get("submitted_by") or payload.get("by")
    try:
        if by and Principal.parse(by).key == principal.key:
            return True
    except PrincipalError:
        pass
    return can_read(principal, str(payload.get("acl") or "internal"))


@router.get("/v1/jobs/{job_id}", summary="A background job's status and progress.")
async def get_job(job_id: str, request: Request, p: Principal = Depends(require_employee)) -> dict[str, Any]:  # noqa: B008
    from workers.queue import job_status

    db = get_deps(request).db
    job = await find_job(db, job_id=job_id)
    row = await job_status(db, job_id) if job is not None and _job_visible(job, p) else None
    if row is None:
        raise _error(404, "not_found", "No such job.")
    return row
