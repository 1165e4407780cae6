"""Web chat API (POST /v1/query, /v1/chat SSE, /v1/feedback, GET /metrics) against a fake ChatService.

No services: the app is built with ``create_app`` but its lifespan is never entered; the fake service and
settings are put on ``app.state`` the way the lifespan would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from channels.web import metrics
from channels.web.app import create_app
from channels.web.deps import mint_session_token
from memory.principals import Principal
from memory.settings import Settings
from tools.errors import NotFound, Unavailable

ALLOWED = "https://shop.example"


class FakeService:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []
        self.feedbacks: list[tuple[str, str, int, str | None]] = []
        self.fail_with: BaseException | None = None
        self.fail_midway: BaseException | None = None
        self.agent_error = False

    def _reply(self, message: str) -> dict[str, Any]:
        return {
            "answer": f"echo: {message}",
            "citations": [
                {
                    "source": "policy/ch-1.html",
                    "section": "1.1 Scope",
                    "page": None,
                    "snippet": "Scope text",
                    "chunk_id": "c1",
                }
            ],
            "steps": ["retrieve", "answer"],
            "cache_hit": False,
            "order": None,
            "latency_ms": 12.5,
            "answer_id": "ans_1",
            "thread": "ignored",
            "quote": None,
            "notices": [],
        }

    async def stream(
        self, principal: Principal, thread: str, message: str, *, channel: str
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls.append((str(principal), thread, message, channel))
        if self.fail_with:
            raise self.fail_with
        yield {"type": "step", "name": "retrieve"}
        yield {"type": "token", "text": "echo: "}
        if self.fail_midway:
            raise self.fail_midway
        if self.agent_error:
            yield {"type": "error", "message": "psycopg.errors.UndefinedTable: relation secret_table"}
        yield {"type": "token", "text": message}
        reply = self._reply(message)
        yield {"type": "citations", "citations": reply["citations"]}
        if message == "buy it":
            quote = {
                "quote_id": "q_1",
                "token": "SECRET-QUOTE-TOKEN",
                "items": [
                    {
                        "isbn": "9780451169525",
                        "title": "Misery",
                        "quantity": 1,
                        "unit_price_cents": 799,
                        "line_total_cents": 799,
                    }
                ],
                "total_cents": 799,
                "currency": "USD",
                "demo_price": True,
            }
            reply["quote"] = quote
            yield {"type": "confirm", "quote": quote}
        yield {"type": "final", "reply": reply}

    async def ask(self, principal: Principal, thread: str, message: str, *, channel: str) -> dict[str, Any]:
        reply: dict[str, Any] = {}
        async for e in self.stream(principal, thread, message, channel=channel):
            if e["type"] == "final":
                reply = e["reply"]
        return reply

    async def feedback(
        self, answer_id: str, principal: Principal, score: int, *, channel: str, comment: str | None = None
    ) -> dict[str, Any]:
        if answer_id == "missing":
            raise NotFound(f"No answer {answer_id!r}.")
        self.feedbacks.append((answer_id, str(principal), score, comment))
        return {"answer_id": answer_id, "score": score}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        demo_data=False,
        cors_origins=[ALLOWED],  # type: ignore[call-arg]
        session_secret=SecretStr("unit-secret-unit-secret-unit-secret"),
        _env_file=None,
    )


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
def client(settings: Settings, service: FakeService) -> TestClient:
    app = create_app(settings)
    app.state.deps = SimpleNamespace(settings=settings)
    app.state.chat_service = service
    app.state.ready = True
    # no `with`: the lifespan (database, models) is never entered; a visitor's session by default
    return TestClient(app, headers=_auth(settings, "customer:web-visitor"))


def _auth(settings: Settings, principal: str = "customer:alice") -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_session_token(settings, Principal.parse(principal))}


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in frame.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            out.append((name, json.loads("\n".join(data))))
    return out


def test_query_returns_answer_citations_and_meta(
    client: TestClient, settings: Settings, service: FakeService
) -> None:
    before = metrics.value("libromind_chat_requests_total", channel="web", endpoint="query", outcome="ok")
    r = client.post(
        "/v1/query", json={"message": "what is policy?", "thread": "t-1"}, headers=_auth(settings)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] == "echo: what is policy?"
    assert body["citations"][0]["section"] == "1.1 Scope"
    assert body["meta"] == {
        "thread": "t-1",
        "cache_hit": False,
        "latency_ms": 12.5,
        "steps": ["retrieve", "answer"],
        "answer_id": "ans_1",
    }
    assert body["order"] is None and body["confirm"] is None
    # the principal comes from the signed token; the service namespaces the thread by it
    assert service.calls == [("customer:alice", "t-1", "what is policy?", "web")]
    after = metrics.value("libromind_chat_requests_total", channel="web", endpoint="query", outcome="ok")
    assert after == before + 1


def test_query_gets_a_new_thread(client: TestClient, service: FakeService) -> None:
    r = client.post("/v1/query", json={"message": "hello"})
    assert r.status_code == 200
    assert r.json()["meta"]["thread"].startswith("t-")
    assert service.calls[0][0] == "customer:web-visitor"


def test_query_without_token_asks_for_a_session(client: TestClient, service: FakeService) -> None:
    """No shared ``customer:anonymous``: a request without a session token is refused in words."""
    r = client.post("/v1/query", json={"message": "hello"}, headers={"Authorization": ""})
    assert r.status_code == 401
    assert r.json()["error"] == "session_required" and "/v1/session" in r.json()["message"]
    assert service.calls == []


def test_bad_token_is_rejected_in_words_and_counted(client: TestClient) -> None:
    before = metrics.value(
        "libromind_chat_requests_total", channel="web", endpoint="query", outcome="rejected"
    )
    r = client.post(
        "/v1/query", json={"message": "hi"}, headers={"Authorization": "Bearer forged.token.value"}
    )
    assert r.status_code == 401
    assert r.json() == {"error": "bad_session", "message": "Invalid session token."}
    after = metrics.value(
        "libromind_chat_requests_total", channel="web", endpoint="query", outcome="rejected"
    )
    assert after == before + 1


@pytest.mark.parametrize(
    "payload",
    [{"message": "   "}, {"message": ""}, {}, {"message": "hi", "thread": "a/b"}, {"message": "x" * 4001}],
)
def test_invalid_input_is_explained(client: TestClient, payload: dict[str, Any]) -> None:
    r = client.post("/v1/query", json=payload)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_input"
    assert body["message"].startswith("Your request was not understood")


def test_query_failure_is_told_logged_and_counted(
    client: TestClient, service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    service.fail_with = RuntimeError("database exploded: password=hunter2")
    before = metrics.value(
        "libromind_chat_failures_total", channel="web", endpoint="query", kind="RuntimeError"
    )
    r = client.post("/v1/query", json={"message": "hi"})
    assert r.status_code == 500
    assert r.json()["error"] == "internal"
    assert "Sorry" in r.json()["message"] and "hunter2" not in r.text
    assert (
        metrics.value("libromind_chat_failures_total", channel="web", endpoint="query", kind="RuntimeError")
        == before + 1
    )
    assert any("web query failed" in rec.getMessage() for rec in caplog.records)


def test_tool_error_keeps_its_status_and_words(client: TestClient, service: FakeService) -> None:
    service.fail_with = Unavailable("The search index is rebuilding; try again in a minute.")
    r = client.post("/v1/query", json={"message": "hi"})
    assert r.status_code == 503
    assert r.json() == {
        "error": "unavailable",
        "message": "The search index is rebuilding; try again in a minute.",
    }


def test_query_confirm_hides_the_quote_token(client: TestClient) -> None:
    r = client.post("/v1/query", json={"message": "buy it"})
    body = r.json()
    assert body["confirm"]["quote_id"] == "q_1"
    assert body["confirm"]["items"][0]["isbn"] == "9780451169525"
    assert "SECRET-QUOTE-TOKEN" not in r.text


def test_chat_streams_server_sent_events(
    client: TestClient, settings: Settings, service: FakeService
) -> None:
    r = client.post(
        "/v1/chat", json={"message": "buy it", "thread": "t-2"}, headers=_auth(settings, "customer:bob")
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    names = [n for n, _ in events]
    assert names == ["thread", "step", "token", "token", "citations", "confirm", "final"]
    assert events[0][1] == {"thread": "t-2"}
    assert events[1][1] == {"name": "retrieve"}
    assert "".join(d["text"] for n, d in events if n == "token") == "echo: buy it"
    assert events[5][1]["quote"]["total_cents"] == 799
    final = events[-1][1]
    assert final["answer"] == "echo: buy it" and final["meta"]["answer_id"] == "ans_1"
    assert final["confirm"]["quote_id"] == "q_1"
    assert "SECRET-QUOTE-TOKEN" not in r.text
    assert service.calls == [("customer:bob", "t-2", "buy it", "web")]


def test_chat_failure_midway_becomes_an_error_event(client: TestClient, service: FakeService) -> None:
    service.fail_midway = RuntimeError("boom")
    before = metrics.value("libromind_chat_requests_total", channel="web", endpoint="chat", outcome="error")
    r = client.post("/v1/chat", json={"message": "hi"})
    events = _events(r.text)
    assert [n for n, _ in events] == ["thread", "step", "token", "error"]
    assert events[-1][1]["error"] == "internal"
    assert events[-1][1]["message"].startswith("Sorry")
    assert (
        metrics.value("libromind_chat_requests_total", channel="web", endpoint="chat", outcome="error")
        == before + 1
    )


def test_agent_error_event_is_phrased_without_internals(client: TestClient, service: FakeService) -> None:
    service.agent_error = True
    r = client.post("/v1/chat", json={"message": "hi"})
    events = _events(r.text)
    err = [d for n, d in events if n == "error"]
    assert err and err[0]["message"].startswith("Sorry")
    assert "secret_table" not in r.text
    assert events[-1][0] == "final"


def test_feedback_recorded_with_principal(
    client: TestClient, settings: Settings, service: FakeService
) -> None:
    before = metrics.value("libromind_feedback_total", channel="web", score="up")
    r = client.post(
        "/v1/feedback",
        json={"answer_id": "ans_1", "score": 1, "comment": "great"},
        headers=_auth(settings, "customer:carol"),
    )
    assert r.status_code == 200
    assert r.json() == {"ok": True, "answer_id": "ans_1", "score": 1}
    assert service.feedbacks == [("ans_1", "customer:carol", 1, "great")]
    assert metrics.value("libromind_feedback_total", channel="web", score="up") == before + 1


def test_feedback_errors(client: TestClient) -> None:
    r = client.post("/v1/feedback", json={"answer_id": "missing", "score": -1})
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "message": "No answer 'missing'."}
    r = client.post("/v1/feedback", json={"answer_id": "ans_1", "score": 0})
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"


def test_metrics_exposed_in_prometheus_text_format(client: TestClient) -> None:
    client.post("/v1/query", json={"message": "hi"})
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert 'libromind_chat_requests_total{channel="web",endpoint="query",outcome="ok"}' in r.text
    assert "# TYPE libromind_chat_failures_total counter" in r.text


def test_openapi_documents_the_response_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in (
        "QueryRequest",
        "QueryResponse",
        "Citation",
        "Quote",
        "Meta",
        "FeedbackRequest",
        "FeedbackResponse",
        "ErrorResponse",
    ):
        assert name in schemas, name
    ok = spec["paths"]["/v1/query"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/QueryResponse")
    assert "text/event-stream" in spec["paths"]["/v1/chat"]["post"]["responses"]["200"]["content"]
    assert "/v1/feedback" in spec["paths"] and "/metrics" in spec["paths"]


def test_cors_allowlist(client: TestClient) -> None:
    pre = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = client.options("/v1/chat", headers={"Origin": ALLOWED, **pre})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    bad = client.options("/v1/chat", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers
    simple = client.post("/v1/query", json={"message": "hi"}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    simple_ok = client.post("/v1/query", json={"message": "hi"}, headers={"Origin": ALLOWED})
    assert simple_ok.headers["access-control-allow-origin"] == ALLOWED


def test_widget_assets_served(client: TestClient) -> None:
    js = client.get("/static/widget.js")
    assert js.status_code == 200 and "attachShadow" in js.text
    css = client.get("/static/widget.css")
    assert css.status_code == 200 and "@media (max-width: 480px)" in css.text
    page = client.get("/")
    assert page.status_code == 200 and 'data-mode="inline"' in page.text
