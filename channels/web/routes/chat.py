"""Web chat API: ``POST /v1/query`` (JSON), ``POST /v1/chat`` (Server-Sent Events), ``POST /v1/feedback``
and ``GET /metrics``.

Translate only: the caller's principal comes from the signed session token; the thread id is namespaced
by that principal and the channel (``memory.checkpoints.thread_key``) when
:class:`agent.service.ChatService` runs the turn. A failure is told to the
user in words (JSON ``{error, message}`` or an SSE ``error`` event), logged, and counted; never swallowed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sse_starlette import EventSourceResponse

from channels.web import metrics
from channels.web.deps import get_principal
from memory.principals import Principal
from tools.errors import ToolError

__all__ = ["router", "get_chat_service", "CHANNEL"]

log = logging.getLogger(__name__)
CHANNEL = "web"
TURN_TIMEOUT_S = 180.0
_THREAD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
SORRY = "Sorry, something went wrong on our side and your message was not handled. Please try again."
AGENT_SORRY = "Sorry, something went wrong while answering. Please try again."


# ------------------------------------------------------------------------------------------------ models
class Citation(BaseModel):
    source: str
    section: str | None = None
    page: int | str | None = None
    snippet: str = ""
    chunk_id: str | int | None = None


class QuoteItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    isbn: str
    title: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class Quote(BaseModel):
    """An order awaiting the user's explicit confirmation (nothing is ordered yet)."""

    model_config = ConfigDict(extra="allow")
    quote_id: str
    items: list[QuoteItem]
    total_cents: int
    currency: str = "USD"
    demo_price: bool = False


class Order(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    status: str | None = None
    items: list[dict[str, Any]] = []
    total: int | None = None
    total_cents: int | None = None
    currency: str = "USD"


class Meta(BaseModel):
    thread: str
    cache_hit: bool = False
    latency_ms: float | None = None
    steps: list[str] = []
    answer_id: str | None = None


class QueryRequest(BaseModel):
    message: str = Field(min_length=1, max_length=4000, description="The user's message.")
    thread: str | None = Field(
        default=None,
        description="Conversation id (letters, digits, _ . : -); a new one when omitted.",
        examples=["t-1a2b3c"],
    )

    @field_validator("message")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the message is empty")
        return v

    @field_validator("thread")
    @classmethod
    def _thread(cls, v: str | None) -> str | None:
        if v is not None and not _THREAD_RE.match(v):
            raise ValueError("a thread id is 1-64 letters, digits, '_', '.', ':' or '-'")
        return v


class QueryResponse(BaseModel):
    answer: str
    citations: list[Citation] = []
    meta: Meta
    order: Order | None = None
    confirm: Quote | None = Field(default=None, description="Set when the agent asks to confirm an order.")
    items: list[dict[str, Any]] = Field(default=[], description="Books shown in the answer, when any.")


class FeedbackRequest(BaseModel):
    answer_id: str = Field(min_length=1, max_length=200)
    score: Literal[1, -1] = Field(description="1 = thumbs up, -1 = thumbs down.")
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackResponse(BaseModel):
    ok: bool = True
    answer_id: str
    score: int


class ErrorResponse(BaseModel):
    error: str
    message: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Bad or expired session token."},
    422: {"model": ErrorResponse, "description": "Invalid request."},
    500: {"model": ErrorResponse, "description": "Unexpected failure (logged and counted)."},
    503: {"model": ErrorResponse, "description": "A backend is unavailable."},
}


# ------------------------------------------------------------------------------------------------ route
def _endpoint(request: Request) -> str:
    return request.url.path.rsplit("/", 1)[-1] or "root"


def _humanize(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "Your request was not understood: " + "; ".join(parts) + "."


class _ChannelRoute(APIRoute):
    """Turn request validation errors into ``{error, message}`` (and count them) for this router."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                metrics.record_request(CHANNEL, _endpoint(request), "rejected")
                return JSONResponse({"error": "invalid_input", "message": _humanize(exc)}, status_code=422)

        return route


router = APIRouter(route_class=_ChannelRoute, tags=["chat"])


class _SessionError(ToolError):
    http_status = 401


def principal_dep(request: Request) -> Principal:
    """The caller (signed session token; none or a bad one: 401, counted). Anonymous web visitors get
    their own ``customer:web-<random>`` from POST /v1/session, so no two clients share a thread."""
    try:
        return get_principal(request)
    except HTTPException as exc:
        metrics.record_request(CHANNEL, _endpoint(request), "rejected")
        detail = exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail)}
        code = str(detail.get("error") or "bad_session")
        raise _SessionError(str(detail.get("message") or "Invalid session."), code=code) from None


async def get_chat_service(request: Request) -> Any:
    """The app's ChatService, created once from its resources (PostgreSQL checkpointer, semantic cache)."""
    service = getattr(request.app.state, "chat_service", None)
    if service is not None:
        return service
    lock = getattr(request.app.state, "chat_service_lock", None)
    if lock is None:
        lock = request.app.state.chat_service_lock = asyncio.Lock()
    async with lock:
        service = getattr(request.app.state, "chat_service", None)
        if service is None:
            from agent.service import ChatService
            from channels.web.deps import get_deps

            service = await ChatService.create(get_deps(request))
            request.app.state.chat_service = service
    return service


def _new_thread() -> str:
    return f"t-{secrets.token_hex(8)}"


def _confirm_of(reply: dict[str, Any]) -> dict[str, Any] | None:
    quote = reply.get("confirm") or reply.get("quote")
    if not isinstance(quote, dict) or not quote.get("quote_id"):
        return None
    # the signed quote token is the agent's to redeem (after the user's yes), never the browser's
    return {k: v for k, v in quote.items() if k not in ("token", "type")}


def _reply_body(reply: dict[str, Any], thread: str) -> dict[str, Any]:
    return {
        "answer": reply.get("answer") or "",
        "citations": reply.get("citations") or [],
        "meta": {
            "thread": thread,
            "cache_hit": bool(reply.get("cache_hit")),
            "latency_ms": reply.get("latency_ms"),
            "steps": list(reply.get("steps") or []),
            "answer_id": _str_or_none(reply.get("answer_id")),
        },
        "order": reply.get("order") or None,
        "confirm": _confirm_of(reply),
        "items": list(reply.get("items") or []),
    }


def _str_or_none(v: Any) -> str | None:
    return None if v is None else str(v)


def _fail(endpoint: str, exc: BaseException) -> JSONResponse:
    """Log, count and phrase a failure for the user."""
    if isinstance(exc, ToolError):
        metrics.record_request(CHANNEL, endpoint, "error")
        metrics.record_failure(CHANNEL, endpoint, exc.code)
        log.warning("web %s failed: %s (%s)", endpoint, exc.message, exc.code)
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)
    metrics.record_request(CHANNEL, endpoint, "error")
    if isinstance(exc, TimeoutError):
        metrics.record_failure(CHANNEL, endpoint, "timeout")
        log.error("web %s timed out after %.0f s", endpoint, TURN_TIMEOUT_S)
        return JSONResponse(
            {"error": "timeout", "message": "Sorry, that took too long. Please try again."}, status_code=504
        )
    metrics.record_failure(CHANNEL, endpoint, type(exc).__name__)
    log.error("web %s failed", endpoint, exc_info=exc)
    return JSONResponse({"error": "internal", "message": SORRY}, status_code=500)


# ------------------------------------------------------------------------------------------------ endpoints
@router.post(
    "/v1/query",
    response_model=QueryResponse,
    responses=_ERRORS,
    summary="Ask one question; the whole reply as JSON (answer, citations, order or a quote to confirm).",
)
async def query(body: QueryRequest, request: Request, principal: Principal = Depends(principal_dep)) -> Any:
    thread = body.thread or _new_thread()
    try:
        service = await get_chat_service(request)
        async with asyncio.timeout(TURN_TIMEOUT_S):
            reply = await service.ask(principal, thread, body.message, channel=CHANNEL)
    except Exception as exc:  # noqa: BLE001 - every failure is phrased, logged and counted
        return _fail("query", exc)
    if reply.get("error"):
        metrics.record_failure(CHANNEL, "query", "agent")
        log.warning("web query: the agent reported an error: %s", reply["error"])
        if not reply.get("steps"):  # the turn failed before doing anything: say so with an error status
            metrics.record_request(CHANNEL, "query", "error")
            body_ = {"error": "agent_failed", "message": reply.get("answer") or AGENT_SORRY}
            return JSONResponse(body_, status_code=500)
    metrics.record_request(CHANNEL, "query", "ok")
    return _reply_body(reply, thread)


def _sse(kind: str, data: dict[str, Any]) -> dict[str, str]:
    return {"event": kind, "data": json.dumps(data, default=str, ensure_ascii=False)}


async def _events(
    service: Any, principal: Principal, thread: str, message: str
) -> AsyncIterator[dict[str, str]]:
    yield _sse("thread", {"thread": thread})
    outcome = "error"
    failed = False
    try:
        async with asyncio.timeout(TURN_TIMEOUT_S):
            async for event in service.stream(principal, thread, message, channel=CHANNEL):
                kind = str(event.get("type") or "message")
                payload = {k: v for k, v in event.items() if k != "type"}
                if kind == "final":
                    payload = _reply_body(payload.get("reply") or {}, thread)
                    outcome = "error" if failed else "ok"
                elif kind == "error":
                    # the raw text may carry internals: log it, tell the user in plain words
                    failed = True
                    metrics.record_failure(CHANNEL, "chat", "agent")
                    log.warning("web chat: the agent reported an error: %s", event.get("message"))
                    payload = {"error": "agent_failed", "message": AGENT_SORRY}
                elif kind == "confirm":
                    payload = {"quote": _confirm_of({"quote": payload.get("quote")})}
                yield _sse(kind, payload)
    except asyncio.CancelledError:
        outcome = "cancelled"
        log.info("web chat: client went away")
        raise
    except Exception as exc:  # noqa: BLE001 - told to the user as an SSE error event
        if isinstance(exc, ToolError):
            kind_, text = exc.code, exc.message
            log.warning("web chat failed: %s (%s)", exc.message, exc.code)
        elif isinstance(exc, TimeoutError):
            kind_, text = "timeout", "Sorry, that took too long. Please try again."
            log.error("web chat timed out after %.0f s", TURN_TIMEOUT_S)
        else:
            kind_, text = type(exc).__name__, SORRY
            log.error("web chat failed", exc_info=exc)
        metrics.record_failure(CHANNEL, "chat", kind_)
        yield _sse("error", {"error": kind_ if isinstance(exc, ToolError) else "internal", "message": text})
    finally:
        metrics.record_request(CHANNEL, "chat", outcome)


@router.post(
    "/v1/chat",
    responses={
        **_ERRORS,
        200: {
            "content": {"text/event-stream": {}},
            "description": (
                "Server-Sent Events: `thread` {thread}, `step` {name}, `token` {text}, "
                "`citations` {citations}, `confirm` {quote}, `final` (the /v1/query body), "
                "`error` {error, message}."
            ),
        },
    },
    response_class=EventSourceResponse,
    summary="Ask one question and stream the reply as Server-Sent Events.",
)
async def chat(body: QueryRequest, request: Request, principal: Principal = Depends(principal_dep)) -> Any:
    thread = body.thread or _new_thread()
    try:
        service = await get_chat_service(request)
    except Exception as exc:  # noqa: BLE001 - nothing can be streamed without the service
        return _fail("chat", exc)
    return EventSourceResponse(
        _events(service, principal, thread, body.message),
        ping=15,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    responses={**_ERRORS, 404: {"model": ErrorResponse}},
    summary="Thumbs up (1) or down (-1) on an answer, with an optional comment.",
)
async def feedback(
    body: FeedbackRequest, request: Request, principal: Principal = Depends(principal_dep)
) -> Any:
    try:
        service = await get_chat_service(request)
        await service.feedback(body.answer_id, principal, body.score, channel=CHANNEL, comment=body.comment)
    except Exception as exc:  # noqa: BLE001
        return _fail("feedback", exc)
    metrics.record_request(CHANNEL, "feedback", "ok")
    metrics.record_feedback(CHANNEL, body.score)
    return {"ok": True, "answer_id": body.answer_id, "score": body.score}


@router.get(
    "/metrics",
    tags=["ops"],
    summary="Counters in the Prometheus text format.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics_endpoint() -> Response:
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
