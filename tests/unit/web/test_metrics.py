"""channels.web.metrics: counters and the Prometheus text format (with and without prometheus_client)."""

from __future__ import annotations

import importlib
import sys

import pytest

from channels.web import metrics


def test_counters_increment_and_render() -> None:
    before = metrics.value("libromind_chat_failures_total", channel="slack", endpoint="event", kind="timeout")
    metrics.record_failure("slack", "event", "timeout")
    metrics.record_failure("slack", "event", "timeout")
    assert (
        metrics.value("libromind_chat_failures_total", channel="slack", endpoint="event", kind="timeout")
        == before + 2
    )
    text = metrics.render().decode()
    assert 'libromind_chat_failures_total{channel="slack",endpoint="event",kind="timeout"}' in text
    assert "# HELP libromind_chat_requests_total" in text


def test_builtin_fallback_renders_the_same_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails -> fallback
    fallback = importlib.reload(metrics)
    try:
        assert fallback.BACKEND == "builtin"
        fallback.record_request("web", "query", "ok")
        fallback.record_feedback("web", -1)
        fallback.record_failure("web", "chat", 'we"ird')
        text = fallback.render().decode()
        assert "# TYPE libromind_chat_requests_total counter" in text
        assert 'libromind_chat_requests_total{channel="web",endpoint="query",outcome="ok"} 1.0' in text
        assert 'libromind_feedback_total{channel="web",score="down"} 1.0' in text
        assert 'kind="we\\"ird"' in text
        assert (
            fallback.value("libromind_chat_requests_total", channel="web", endpoint="query", outcome="ok")
            == 1
        )
    finally:
        monkeypatch.undo()
        importlib.reload(metrics)
        assert metrics.BACKEND == "prometheus_client"
