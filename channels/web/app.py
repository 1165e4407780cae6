"""The FastAPI application: web chat page + widget assets, JSON/SSE API, health probes.

``create_app(settings)`` builds an app; ``app`` is the module-level instance (uvicorn, langgraph.json).
Routers in ``channels/web/routes/*.py`` (each exposing ``router``) are included automatically.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from channels.web.deps import get_deps, mint_session_token
from channels.web.errors import install_error_handlers
from channels.web.limits import install_limits
from channels.web.security_headers import SecurityHeaders
from memory.home import ensure_home
from memory.logs import correlated, correlation_id
from memory.principals import Principal
from memory.secrets import session_secret
from memory.settings import Settings, get_settings
from tools.deps import Deps, use

__all__ = ["app", "create_app"]

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")


def _include_routes(app: FastAPI) -> None:
    import channels.web.routes as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"channels.web.routes.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)


def create_app(settings: Settings | None = None, deps: Deps | None = None) -> FastAPI:
    """Build the web app. Resources are opened in the lifespan unless ``deps`` is given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or get_settings()
        own = deps is None
        # a configured secret is checked, or this home's generated one created, before anything opens
        session_secret(deps.settings if deps is not None else s)
        if deps is None:
            if s.database_url is None:
                ensure_home(s.home)
            d = await Deps.build(s)
        else:
            d = deps
        use(d)
        app.state.deps = d
        app.state.ready = False
        app.state.background = []
        # Warm the embedding model off the event loop; /readyz turns 200 when done.
        await asyncio.to_thread(d.embedder.embed_one, "warm up")
        for hook in _startup_hooks():
            task = asyncio.create_task(hook(d), name=getattr(hook, "__name__", "hook"))
            app.state.background.append(task)
        app.state.ready = True
        log.info("web app ready")
        try:
            yield
        finally:
            for task in app.state.background:
                task.cancel()
            if own:
                await d.close()

    app = FastAPI(
        title="libromind",
        version="0.1.0",
        summary="A bookstore's conversational agent: grounded help-docs answers, catalog and orders.",
        lifespan=lifespan,
    )
    s0 = settings or get_settings()
    install_limits(app, s0)  # innermost of these: 413/429 answers still get CORS and security headers
    app.add_middleware(SecurityHeaders, frame_ancestors=s0.cors_origins)
    install_error_handlers(app)
    if s0.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=s0.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )

    @app.middleware("http")
    async def _correlate(request: Request, call_next: Any) -> Any:
        with correlated(request.headers.get("x-request-id")) as cid:
            t0 = time.perf_counter()
            response = await call_next(request)
            response.headers["X-Request-Id"] = cid
            log.info(
                "http %s %s -> %s",
                request.method,
                request.url.path,
                response.status_code,
                extra={"ms": round((time.perf_counter() - t0) * 1000, 1)},
            )
            return response

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process is serving.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: database reachable and models loaded.")
    async def readyz(request: Request) -> JSONResponse:
        if not getattr(request.app.state, "ready", False):
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            await get_deps(request).db.fetchrow("SELECT 1 AS ok")
        except Exception as exc:  # noqa: BLE001 - report any database failure as not ready
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.post("/v1/session", tags=["session"], summary="Mint a signed session token for a new web customer.")
    async def new_session(request: Request) -> dict[str, str]:
        import secrets

        principal = Principal("customer", f"web-{secrets.token_hex(8)}")
        token = mint_session_token(get_deps(request).settings, principal)
        return {"token": token, "principal": str(principal), "request_id": correlation_id.get()}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _include_routes(app)
    return app


def _startup_hooks() -> list[Any]:
    """Background work started with the app (e.g. embedding the rest of the demo catalog)."""
    from workers.startup import background_hooks

    return list(background_hooks())


app = create_app()
