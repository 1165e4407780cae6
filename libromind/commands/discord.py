"""``libromind discord``: run the Discord bot (mentions and DMs; threads; 👍/👎; order buttons).

Needs LIBROMIND_DISCORD_TOKEN and the bot's "Message Content Intent" enabled in the developer portal.
"""

from __future__ import annotations

import asyncio
import contextlib

import typer

from libromind.commands._common import console, fail, open_deps, run
from memory.settings import MissingExtra, Settings, get_settings, require_extra

__all__ = ["register", "serve_discord"]


async def serve_discord(settings: Settings, discord_settings: object) -> None:
    from agent.service import ChatService
    from channels.discord.bot import DiscordBot

    async with open_deps(settings) as deps:
        service = await ChatService.create(deps)
        bot = DiscordBot(discord_settings, service, deps.db)  # type: ignore[arg-type]
        token = discord_settings.token.get_secret_value()  # type: ignore[attr-defined]
        console.print("Discord: connecting to the gateway (Ctrl+C to stop)", highlight=False)
        async with bot:
            try:
                await bot.start(token)
            finally:
                await bot.drain(wait_s=30.0)


def register(app: typer.Typer) -> None:
    @app.command()
    def discord() -> None:
        """Run the Discord bot: mentions (answered in a thread) and DMs, reactions as feedback."""
        try:
            require_extra("discord", "discord")
        except MissingExtra as exc:
            raise fail(str(exc)) from None
        from channels.discord.settings import DiscordSettings

        discord_settings = DiscordSettings()
        if discord_settings.token is None:
            raise fail("Discord is not configured: set LIBROMIND_DISCORD_TOKEN.")
        settings = get_settings()
        from libromind.commands.serve import prepare

        run(prepare(settings))
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            run(serve_discord(settings, discord_settings))
