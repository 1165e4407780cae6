"""A local fake of the Discord REST API (aiohttp on a free port) that records every call.

Set ``discord.http.Route.BASE = fake.api_base``. JSON answers carry ``Content-Type: application/json``
exactly (discord.py only decodes that). Answers: ``GET /users/@me``, ``GET /oauth2/applications/@me``,
``POST /channels/{id}/messages``, ``PATCH /channels/{id}/messages/{id}``,
``POST /channels/{id}/messages/{id}/threads``, ``POST /interactions/{id}/{token}/callback``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = "900000000000000001"
APP_ID = "900000000000000002"
NOW = "2025-01-01T00:00:00.000000+00:00"


def user(uid: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": uid,
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
    }


BOT_USER = user(BOT_ID, "libromind", bot=True)


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]


@dataclass
class FakeDiscord:
    calls: list[Call] = field(default_factory=list)
    guild_of: dict[str, str] = field(default_factory=dict)  # channel id -> guild id
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(910000000000000000))
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    def new_id(self) -> str:
        return str(next(self._ids))

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------------------------ queries
    def of(self, method: str, prefix: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    async def wait_for(
        self, method: str, prefix: str = "", count: int = 1, wait_s: float = 60.0
    ) -> list[Call]:
        deadline = time.monotonic() + wait_s
        while True:
            got = self.of(method, prefix)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {method} {prefix}; recorded: {self.summary()}")
            await asyncio.sleep(0.02)

    def summary(self) -> list[str]:
        return [f"{c.method} {c.path} {json.dumps(c.body, default=str)[:300]}" for c in self.calls]

    # ------------------------------------------------------------------------------------ server
    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.Response(
            status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
        )

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body: dict[str, Any] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
            elif request.content_type.startswith("multipart/"):
                reader = await request.multipart()
                async for part in reader:
                    if part.name == "payload_json":
                        body = json.loads(await part.text())
        self.calls.append(Call(request.method, path, body))
        parts = path.strip("/").split("/")
        if request.method == "GET" and path == "/users/@me":
            return self._json(BOT_USER)
        if request.method == "GET" and path == "/oauth2/applications/@me":
            return self._json(
                {
                    "id": APP_ID,
                    "name": "libromind",
                    "description": "",
                    "icon": None,
                    "bot_public": False,
                    "bot_require_code_grant": False,
                    "owner": user("1", "owner"),
                    "verify_key": "00",
                    "flags": 0,
                    "summary": "",
                }
            )
        if parts[0] == "channels" and len(parts) == 3 and parts[2] == "messages" and request.method == "POST":
            return self._json(self._message(parts[1], body))
        if (
            parts[0] == "channels"
            and len(parts) == 4
            and parts[2] == "messages"
            and request.method == "PATCH"
        ):
            msg = self.messages.setdefault(parts[3], self._message(parts[1], {}, mid=parts[3]))
            for key in ("content", "components", "embeds"):
                if key in body:
                    msg[key] = body[key] or []
            msg["edited_timestamp"] = NOW
            return self._json(msg)
        if parts[0] == "channels" and len(parts) == 5 and parts[4] == "threads":
            tid = self.new_id()
            guild = self.guild_of.get(parts[1])
            if guild:
                self.guild_of[tid] = guild
            return self._json(
                {
                    "id": tid,
                    "type": 11,
                    "guild_id": guild,
                    "parent_id": parts[1],
                    "name": body.get("name"),
                    "owner_id": BOT_ID,
                    "message_count": 0,
                    "member_count": 1,
                    "rate_limit_per_user": 0,
                    "flags": 0,
                    "last_message_id": None,
                    "thread_metadata": {
                        "archived": False,
                        "auto_archive_duration": 1440,
                        "archive_timestamp": NOW,
                        "locked": False,
                    },
                },
                status=201,
            )
        if parts[0] == "interactions" and parts[-1] == "callback":
            return self._json({"interaction": {"id": parts[1], "type": 3}})
        return self._json({"message": "404: Not Found", "code": 0}, status=404)

    def _message(self, channel_id: str, body: dict[str, Any], mid: str | None = None) -> dict[str, Any]:
        mid = mid or self.new_id()
        msg = {
            "id": mid,
            "channel_id": channel_id,
            "author": BOT_USER,
            "content": body.get("content") or "",
            "timestamp": NOW,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 19 if body.get("message_reference") else 0,
            "components": body.get("components") or [],
        }
        if channel_id in self.guild_of:
            msg["guild_id"] = self.guild_of[channel_id]
        if body.get("message_reference"):
            msg["message_reference"] = body["message_reference"]
        self.messages[mid] = msg
        return msg
