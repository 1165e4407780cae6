"""``libromind slack [--socket] [--host H] [--port P]``: serve the Slack bot.

HTTP mode (default) serves ``POST /slack/events`` (set it as the Events API and Interactivity request
URL; requests are verified with LIBROMIND_SLACK_SIGNING_SECRET), plus ``/healthz`` and ``/metrics``.
Socket Mode (``--socket``) needs no public URL but an app-level token (LIBROMIND_SLACK_APP_TOKEN).
Both need LIBROMIND_SLACK_BOT_TOKEN.
"""

from __future__ import annotations

import asyncio
import contextlib

import typer

from libromind.commands._common import console, fail, open_deps, run
from memory.settings import MissingExtra, Settings, get_settings, require_extra

__all__ = ["register", "serve_slack"]


async def serve_slack(
    settings: Settings, slack_settings: object, *, socket: bool, host: str, port: int
) -> None:
    from agent.service import ChatService
    from channels.slack.app import SlackBot
    from channels.slack.server import http_app, run_socket_mode

    async with open_deps(settings) as deps:
        service = await ChatService.create(deps)
        bot = SlackBot(slack_settings, service, deps.db)  # type: ignore[arg-type]
        if socket:
            console.print("Slack: connecting over Socket Mode (Ctrl+C to stop)", highlight=False)
            token = slack_settings.app_token.get_secret_value()  # type: ignore[attr-defined]
            await run_socket_mode(bot, token)
            return
        import uvicorn

        console.print(
            f"Slack: serving [bold]http://{host}:{port}/slack/events[/] (Ctrl+C to stop)", highlight=False
        )
        config = uvicorn.Config(http_app(bot), host=host, port=port, log_config=None, access_log=False)
        await uvicorn.Server(config).serve()


def register(app: typer.Typer) -> None:
    @app.command()
    def slack(
        socket: bool = typer.Option(
            False, "--socket", help="Use Socket Mode (needs LIBROMIND_SLACK_APP_TOKEN)."
        ),
        host: str = typer.Option(None, help="Bind address for HTTP mode (default LIBROMIND_HOST)."),
        port: int = typer.Option(3000, help="Port for HTTP mode (POST /slack/events)."),
    ) -> None:
        """Serve the Slack bot: app mentions and DMs answered in threads (HTTP events or Socket Mode)."""
        try:
            require_extra("slack_bolt", "slack")
            require_extra("aiohttp", "slack")
        except MissingExtra as exc:
            raise fail(str(exc)) from None
        from channels.slack.settings import SlackSettings

        slack_settings = SlackSettings()
        missing = []
        if slack_settings.bot_token is None:
            missing.append("LIBROMIND_SLACK_BOT_TOKEN")
        if socket and slack_settings.app_token is None:
            missing.append("LIBROMIND_SLACK_APP_TOKEN (Socket Mode)")
        if not socket and slack_settings.signing_secret is None:
            missing.append("LIBROMIND_SLACK_SIGNING_SECRET (HTTP mode)")
        if missing:
            raise fail("Slack is not configured: set " + ", ".join(missing) + ".")
        settings = get_settings()
        from libromind.commands.serve import port_in_use, prepare

        bind = host or settings.host
        if not socket:
            busy = port_in_use(bind, port)
            if busy:
                raise fail(f"{busy}. Choose another port with --port.")
        run(prepare(settings))
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            run(serve_slack(settings, slack_settings, socket=socket, host=bind, port=port))
