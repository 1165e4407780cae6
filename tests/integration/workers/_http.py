"""The real web app (channels.web.app.create_app: every route, middleware and the lifespan) served by
uvicorn on a free loopback port inside the test's event loop, and a real HTTP client for it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn

from channels.web.deps import mint_session_token
from memory.principals import Principal
from tools.deps import Deps

__all__ = ["serve_app", "auth"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve_app(deps: Deps) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``create_app(deps.settings, deps)`` over real HTTP; yield a client bound to it."""
    from channels.web.app import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(deps.settings, deps=deps), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            for _ in range(600):
                if task.done():
                    task.result()
                    raise RuntimeError("the web app stopped during start-up")
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the web app was not ready in 60 s")
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def auth(deps: Deps, principal: str) -> dict[str, str]:
    """Headers carrying a session token for ``principal`` signed with the app's session secret."""
    return {"Authorization": f"Bearer {mint_session_token(deps.settings, Principal.parse(principal))}"}
