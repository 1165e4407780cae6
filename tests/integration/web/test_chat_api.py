"""The JSON/SSE chat API over real HTTP against the real app (no browser): answers, feedback ownership,
metrics, and threads namespaced by principal."""

from __future__ import annotations

import httpx

from tests.integration.web.conftest import WebServer
from tests.integration.web.test_widget_browser import DOCS_QUESTION, find_king_book


def _session(server: WebServer) -> tuple[str, dict[str, str]]:
    r = httpx.post(server.base_url + "/v1/session", timeout=10)
    r.raise_for_status()
    body = r.json()
    return body["principal"], {"Authorization": f"Bearer {body['token']}"}


def _post(server: WebServer, path: str, body: dict, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.base_url + path, json=body, headers=headers, timeout=180)


def test_query_answers_with_citations_and_feedback_is_owned(web_server: WebServer) -> None:
    alice, alice_h = _session(web_server)
    _, bob_h = _session(web_server)
    r = _post(web_server, "/v1/query", {"message": DOCS_QUESTION, "thread": "t-api"}, alice_h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "required" in body["answer"]
    assert any(c["source"].endswith("ch-perl.html") for c in body["citations"])
    assert body["meta"]["thread"] == "t-api"
    assert "retrieve" in body["meta"]["steps"] or body["meta"]["cache_hit"]
    answer_id = body["meta"]["answer_id"]
    stored = web_server.query("SELECT principal, channel FROM answers WHERE id = %s", answer_id)
    assert stored == [{"principal": alice, "channel": "web"}]
    # someone else cannot rate Alice's answer; Alice can
    r = _post(web_server, "/v1/feedback", {"answer_id": answer_id, "score": 1}, bob_h)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = _post(
        web_server, "/v1/feedback", {"answer_id": answer_id, "score": -1, "comment": "too long"}, alice_h
    )
    assert r.status_code == 200 and r.json() == {"ok": True, "answer_id": answer_id, "score": -1}
    rows = web_server.query("SELECT score, comment FROM feedback WHERE answer_id = %s", answer_id)
    assert rows == [{"score": -1, "comment": "too long"}]


def test_metrics_count_requests_and_failures(web_server: WebServer) -> None:
    _, h = _session(web_server)
    _post(web_server, "/v1/feedback", {"answer_id": "ans_does_not_exist", "score": 1}, h)
    text = httpx.get(web_server.base_url + "/metrics", timeout=10).text
    assert 'libromind_chat_requests_total{channel="web",endpoint="feedback",outcome="error"}' in text
    assert 'libromind_chat_failures_total{channel="web",endpoint="feedback",kind="not_found"}' in text


def test_threads_are_namespaced_by_principal(web_server: WebServer) -> None:
    """Bob saying "yes" in a thread with Alice's thread id never confirms Alice's pending order."""
    book = find_king_book(web_server)
    alice, alice_h = _session(web_server)
    bob, bob_h = _session(web_server)
    r = _post(
        web_server, "/v1/query", {"message": f"I want to buy {book['isbn13']}", "thread": "shared"}, alice_h
    )
    assert r.status_code == 200, r.text
    assert r.json()["confirm"]["items"][0]["isbn"] == book["isbn13"]
    assert "token" not in r.json()["confirm"]
    r = _post(web_server, "/v1/query", {"message": "yes, confirm", "thread": "shared"}, bob_h)
    assert r.status_code == 200 and r.json()["order"] is None
    placed = "SELECT count(*) AS n FROM orders WHERE principal = %s"
    assert web_server.query(placed, alice)[0]["n"] == 0 and web_server.query(placed, bob)[0]["n"] == 0
    r = _post(web_server, "/v1/query", {"message": "yes, confirm", "thread": "shared"}, alice_h)
    assert r.status_code == 200 and r.json()["order"]["status"] == "placed"
    assert web_server.query(placed, alice)[0]["n"] == 1
    (order_id,) = [row["id"] for row in web_server.query("SELECT id FROM orders WHERE principal = %s", alice)]
    assert r.json()["order"]["id"] == order_id
