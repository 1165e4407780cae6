"""Request/failure counters for the chat channels, exposed in the Prometheus text format.

Uses ``prometheus_client`` when it is installed (its own registry, so several apps in one process never
collide); otherwise a tiny built-in counter that renders the same text format. Every channel records
with :func:`record_request` / :func:`record_failure` / :func:`record_feedback`; ``GET /metrics`` serves
:func:`render`.

Counters:
- ``libromind_chat_requests_total{channel,endpoint,outcome}`` outcome: ok | error | rejected
- ``libromind_chat_failures_total{channel,endpoint,kind}`` kind: the error code or exception class
- ``libromind_feedback_total{channel,score}`` score: up | down
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

__all__ = ["CONTENT_TYPE", "record_request", "record_failure", "record_feedback", "render", "value"]

_REQUESTS = (
    "libromind_chat_requests_total",
    "Chat requests by channel, endpoint and outcome.",
    ("channel", "endpoint", "outcome"),
)
_FAILURES = (
    "libromind_chat_failures_total",
    "Chat failures by channel, endpoint and kind.",
    ("channel", "endpoint", "kind"),
)
_FEEDBACK = ("libromind_feedback_total", "Answer feedback by channel and score.", ("channel", "score"))


class _Counter:
    """Fallback counter (no prometheus_client): thread-safe, labelled, text-format rendering."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], float] = defaultdict(float)
        self.lock = threading.Lock()

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        with self.lock:
            self.values[key] += amount

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.doc}", f"# TYPE {self.name} counter"]
        with self.lock:
            for key, v in sorted(self.values.items()):
                labels = ",".join(f'{k}="{_escape(x)}"' for k, x in zip(self.labels, key, strict=True))
                lines.append(f"{self.name}{{{labels}}} {v}")
        return "\n".join(lines) + "\n"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


try:  # prometheus_client is optional: the fallback renders the same format
    import prometheus_client as _prom

    _registry: Any = _prom.CollectorRegistry(auto_describe=True)
    _metrics: dict[str, Any] = {
        spec[0]: _prom.Counter(spec[0].removesuffix("_total"), spec[1], spec[2], registry=_registry)
        for spec in (_REQUESTS, _FAILURES, _FEEDBACK)
    }
    CONTENT_TYPE: str = _prom.CONTENT_TYPE_LATEST
    BACKEND = "prometheus_client"
except ImportError:  # pragma: no cover - exercised only without prometheus_client
    _prom = None  # type: ignore[assignment]
    _registry = None
    _metrics = {spec[0]: _Counter(*spec) for spec in (_REQUESTS, _FAILURES, _FEEDBACK)}
    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
    BACKEND = "builtin"


def _inc(name: str, *labels: str) -> None:
    metric = _metrics[name]
    if _prom is not None:
        metric.labels(*labels).inc()
    else:
        metric.inc(tuple(labels))


def record_request(channel: str, endpoint: str, outcome: str) -> None:
    """Count one request (outcome: ok | error | rejected)."""
    _inc(_REQUESTS[0], channel, endpoint, outcome)


def record_failure(channel: str, endpoint: str, kind: str) -> None:
    """Count one failure (kind: an error code such as ``unavailable`` or an exception class name)."""
    _inc(_FAILURES[0], channel, endpoint, kind)


def record_feedback(channel: str, score: int) -> None:
    _inc(_FEEDBACK[0], channel, "up" if score > 0 else "down")


def value(name: str, **labels: str) -> float:
    """Current value of a counter sample (tests and diagnostics)."""
    metric = _metrics[name]
    if _prom is not None:
        got = _registry.get_sample_value(name, labels)
        return float(got or 0.0)
    spec = next(s for s in (_REQUESTS, _FAILURES, _FEEDBACK) if s[0] == name)
    return float(metric.values.get(tuple(labels[k] for k in spec[2]), 0.0))


def render() -> bytes:
    """All counters in the Prometheus text exposition format."""
    if _prom is not None:
        return bytes(_prom.generate_latest(_registry))
    return "".join(m.render() for m in _metrics.values()).encode()
