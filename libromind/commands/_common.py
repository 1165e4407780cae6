"""Shared helpers for CLI commands: async running, resource set-up and clear user-facing errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console

from memory.db import DatabaseUnavailable
from memory.home import HomeError, HomeInUse, ensure_home
from memory.principals import Principal, PrincipalError
from memory.settings import MissingExtra, Settings, get_settings
from tools.deps import Deps, use

__all__ = ["console", "err_console", "run", "open_deps", "fail", "parse_principal", "USER_ERRORS"]

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

# Errors that are the user's to fix: printed as one clear line, exit code 2.
USER_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseUnavailable,
    HomeError,
    HomeInUse,
    MissingExtra,
    PrincipalError,
)


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn known user errors into a clear message and exit code 2."""
    try:
        return asyncio.run(coro)
    except USER_ERRORS as exc:
        raise fail(str(exc)) from None


@asynccontextmanager
async def open_deps(settings: Settings | None = None) -> AsyncIterator[Deps]:
    settings = settings or get_settings()
    if settings.database_url is None:
        ensure_home(settings.home)
    deps = await Deps.build(settings)
    use(deps)
    try:
        yield deps
    finally:
        await deps.close()


def parse_principal(value: str | None, default: str = "customer:cli") -> Principal:
    try:
        return Principal.parse(value or default)
    except PrincipalError as exc:
        raise fail(str(exc)) from None


async def gather_limited(n: int, fns: list[Callable[[], Awaitable[T]]]) -> list[T]:
    sem = asyncio.Semaphore(n)

    async def one(fn: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await fn()

    return await asyncio.gather(*(one(f) for f in fns))


def is_tty() -> bool:
    return sys.stdout.isatty()
