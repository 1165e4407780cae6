"""Document upload and status: POST /v1/documents (202 + job), GET /v1/documents/{id}, GET /v1/jobs/{id}.

Uploads are parsed from the request stream as they arrive and refused with 413 as soon as the file
passes ``LIBROMIND_MAX_UPLOAD_BYTES`` (or at once when Content-Length already says so), so an
oversized upload is never read whole. Only employees may upload or read ingestion status.
"""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from python_multipart.multipart import MultipartParser, parse_options_header

from channels.web.deps import get_deps, get_principal
from memory.documents import store
from memory.documents.parse import content_hash
from memory.principals import Principal, PrincipalError, validate_acl
from tools.deps import Deps

__all__ = ["router", "get_queue", "UploadTooLarge"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["documents"])
_MULTIPART_SLACK = 64 * 1024  # headers, boundaries and small fields around the file


class UploadTooLarge(Exception):
    pass


def _error(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"error": code, "message": message})


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
        raise _error(400, "bad_request", f"The upload could not be read: {exc}") from None
    if form.file is None or not form.filename:
        raise _error(422, "invalid_input", "Attach the document in a form field named 'file'.")
    try:
        acl = validate_acl(form.fields.get("acl") or "internal")
    except PrincipalError as exc:
        raise _error(422, "invalid_acl", str(exc)) from None
    filename = PurePath(form.filename.replace("\\", "/")).name or "upload"
    source = (form.fields.get("source") or filename).strip().lstrip("/")
    if not source or ".." in PurePath(source).parts:
        raise _error(422, "invalid_input", "The source must be a relative path without '..'.")
    data = bytes(form.file)
    digest = content_hash(data)
    doc_id = await store.begin_document(
        deps.db, source, acl, pending_hash=digest, size_bytes=len(data), status="queued"
    )
    row = await deps.db.fetchrow(
        "INSERT INTO uploads (filename, data) VALUES (%s, %s) RETURNING id::text AS id", filename, data
    )
    assert row is not None
    key = request.headers.get("idempotency-key")
    job_id = await get_queue(deps).enqueue(
        "ingest_document",
        {
            "upload_id": row["id"],
            "filename": filename,
            "source": source,
            "acl": acl,
            "document_id": doc_id,
            "by": str(principal),
        },
        idempotency_key=f"upload:{key}" if key else None,
    )
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


@router.get("/v1/documents/{doc_id}", summary="A document's ingestion status.")
async def get_document(doc_id: str, _p: Principal = Depends(require_employee)) -> dict[str, Any]:  # noqa: B008
    from tools.errors import NotFound
    from tools.knowledge import document_status

    try:
        return await document_status(doc_id)
    except NotFound as exc:
        raise _error(404, "not_found", exc.message) from None


@router.get("/v1/jobs/{job_id}", summary="A background job's status and progress.")
async def get_job(job_id: str, request: Request, _p: Principal = Depends(require_employee)) -> dict[str, Any]:  # noqa: B008
    from workers.queue import job_status

    row = await job_status(get_deps(request).db, job_id)
    if row is None:
        raise _error(404, "not_found", f"No job with id {job_id}.")
    return row
