"""Serving the Slack adapter: HTTP (``POST /slack/events``, signature-verified by bolt) or Socket Mode.

- :func:`http_app` — a Starlette app: ``POST /slack/events`` (events, interactivity), ``GET /healthz``,
  ``GET /metrics`` (the channel counters in the Prometheus text format). Refuses to build without a
  signing secret (:class:`SlackConfigError`): HTTP requests could not be told from forgeries.
- :func:`run_socket_mode` — ``AsyncSocketModeHandler`` with the app-level token (``xapp-...``).
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.slack.app import SlackBot
from channels.web import metrics

__all__ = ["http_app", "run_socket_mode", "EVENTS_PATH", "SlackConfigError"]

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


class SlackConfigError(ValueError):
    """The Slack adapter cannot be served as configured."""


def http_app(bot: SlackBot) -> Starlette:
    problem = bot.settings.http_ready()
    if problem or not bot.signed:
        raise SlackConfigError(
            f"Slack HTTP mode refused: {problem or 'no signing secret'}. Set it to the app's Signing "
            "Secret (Basic Information page), or use Socket Mode with LIBROMIND_SLACK_APP_TOKEN."
        )
    handler = AsyncSlackRequestHandler(bot.app)

    async def events(request: Request) -> Response:
        response = await handler.handle(request)
        if response.status_code == 401:
            metrics.record_request("slack", "events", "rejected")
            log.warning("slack: request refused (bad or stale signature)")
        return response

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        await bot.drain(wait_s=30.0)  # let answers in progress finish before the process exits

    return Starlette(
        routes=[
            Route(EVENTS_PATH, events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def run_socket_mode(bot: SlackBot, app_token: str) -> None:
    """Connect over Socket Mode (no public URL needed) and serve until cancelled."""
    if not (app_token or "").strip():
        raise SlackConfigError("Slack Socket Mode refused: LIBROMIND_SLACK_APP_TOKEN is not set.")
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(bot.app, app_token)
    try:
        await handler.start_async()
    finally:
        await handler.close_async()
        await bot.drain(wait_s=30.0)
