"""A local fake of the Slack Web API (aiohttp on a free port) that records every call.

Point an ``AsyncWebClient(base_url=fake.base_url)`` at it. Answers: auth.test, chat.postMessage,
chat.update, chat.postEphemeral, reactions.add, conversations.info, conversations.members, users.info.
``fake.channels`` / ``fake.members`` / ``fake.users`` configure what conversations.* and users.info say
(users.info: a full member of ``TEAM`` unless overridden: ``is_restricted`` / ``is_ultra_restricted``
guests, ``is_stranger`` or another ``team_id`` for Slack Connect users, ``is_bot`` / ``is_app_user``);
A recorded chat.postMessage carries ``_ts``, the ts of the message it created.
``fake.failures[method] = "error_code"`` makes a method answer ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"


@dataclass
class Call:
    method: str
    args: dict[str, Any]


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _seq: int = 0
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
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
    def of(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, wait_s: float = 60.0, **match: Any) -> list[dict]:
        deadline = time.monotonic() + wait_s
        while True:
            got = [a for a in self.of(method) if all(a.get(k) == v for k, v in match.items())]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {method} {match}; recorded: {self.summary()}")
            await asyncio.sleep(0.02)

    def summary(self) -> list[str]:
        return [f"{c.method} {json.dumps(c.args, default=str)[:300]}" for c in self.calls]

    # ------------------------------------------------------------------------------------ server
    def _next_ts(self) -> str:
        self._seq += 1
        return f"1700000000.{self._seq:06d}"

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                args.update(json.loads(raw))
            else:
                args.update(dict(parse_qsl(raw.decode())))
        for key in ("blocks", "attachments"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        self.calls.append(Call(method, args))
        if method in self.failures:
            return web.json_response({"ok": False, "error": self.failures[method]})
        answer = self._answer(method, args)
        if method == "chat.postMessage":
            args["_ts"] = answer["ts"]  # the ts the fake gave the new message (tests look it up)
        return web.json_response(answer)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://example.slack.com/",
                "team": "Example",
                "user": "libromind",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            ts = self._next_ts()
            msg = {
                "ts": ts,
                "text": args.get("text"),
                "blocks": args.get("blocks"),
                "thread_ts": args.get("thread_ts"),
                "user": BOT_USER,
                "bot_id": BOT_ID,
            }
            self.messages[(args["channel"], ts)] = msg
            return {"ok": True, "channel": args["channel"], "ts": ts, "message": msg}
        if method == "chat.update":
            msg = self.messages.setdefault((args["channel"], args["ts"]), {"ts": args["ts"]})
            msg.update({"text": args.get("text"), "blocks": args.get("blocks")})
            return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": args.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method in ("reactions.add",):
            return {"ok": True}
        if method == "conversations.info":
            channel = args.get("channel", "")
            info = {
                "id": channel,
                "is_channel": True,
                "is_private": False,
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
                "is_im": channel.startswith("D"),
            }
            info.update(self.channels.get(channel, {}))
            return {"ok": True, "channel": info}
        if method == "conversations.members":
            return {
                "ok": True,
                "members": self.members.get(args.get("channel", ""), []),
                "response_metadata": {"next_cursor": ""},
            }
        if method == "users.info":
            # a full member of TEAM unless ``fake.users[id]`` says otherwise (guest, Slack Connect, bot)
            user = {
                "id": args.get("user"),
                "team_id": TEAM,
                "is_bot": False,
                "is_app_user": False,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_stranger": False,
                "deleted": False,
            }
            user.update(self.users.get(args.get("user", ""), {}))
            return {"ok": True, "user": user}
        return {"ok": False, "error": "unknown_method"}
