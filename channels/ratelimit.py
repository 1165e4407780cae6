"""Rate limits shared by every channel (web API, uploads, MCP tools), built on the ``limits`` library.

Each *bucket* (``chat``: ``/v1/chat`` and ``/v1/query`` together, ``session``, ``upload``, ``mcp``) has a
per-principal limit (authenticated callers only: a signed session token or an MCP bearer token) and a
per-client-IP limit (every caller); both apply. Limits are ``limits`` strings such as
``"30/minute;300/hour"`` from the ``LIBROMIND_RATE_LIMIT_*`` settings (validated at start); an empty
string turns that limit off.

Counters live in memory (one process) or, when ``LIBROMIND_REDIS_URL`` is set, in Redis, so every
process of a deployment shares them. When Redis cannot be reached the limiter falls back to this
process's memory (logged) rather than refusing every request.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from memory.settings import Settings
from tools.errors import ToolError

__all__ = ["Bucket", "BUCKETS", "RateLimited", "RateLimiter", "parse_limits"]

log = logging.getLogger(__name__)
Bucket = Literal["chat", "session", "upload", "mcp"]
BUCKETS: tuple[Bucket, ...] = ("chat", "session", "upload", "mcp")
_PREFIX = "libromind"


def parse_limits(value: str) -> list[RateLimitItem]:
    """``"30/minute;300/hour"`` -> limit items; ``""`` -> none. Raises ValueError when malformed."""
    value = (value or "").strip()
    if not value:
        return []
    return list(parse_many(value))


class RateLimited(ToolError):
    """Too many requests: the caller should wait ``retry_after_s`` seconds."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, retry_after_s: int, scope: str) -> None:
        self.retry_after_s = max(1, int(retry_after_s))
        self.scope = scope
        who = "from your address" if scope == "ip" else "for your account"
        super().__init__(
            f"Too many requests {who}. Please retry in {self.retry_after_s} seconds.", code="rate_limited"
        )


@dataclass(frozen=True)
class _Rule:
    scope: Literal["principal", "ip"]
    items: tuple[RateLimitItem, ...]


class RateLimiter:
    """Per-principal and per-IP limits for each bucket, on memory or Redis storage."""

    def __init__(self, settings: Settings, *, storage: Storage | None = None) -> None:
        self.enabled = settings.rate_limit_enabled
        self._rules: dict[str, list[_Rule]] = {}
        for bucket in BUCKETS:
            rules = []
            per_principal = getattr(settings, f"rate_limit_{bucket}", "")
            per_ip = getattr(settings, f"rate_limit_{bucket}_ip", "")
            if per_principal:
                rules.append(_Rule("principal", tuple(parse_limits(per_principal))))
            if per_ip:
                rules.append(_Rule("ip", tuple(parse_limits(per_ip))))
            self._rules[bucket] = rules
        self._fallback = MovingWindowRateLimiter(MemoryStorage())
        if storage is None and settings.redis_url is not None:
            storage = _redis_storage(settings.redis_url.get_secret_value())
        self.shared = storage is not None
        self._limiter = MovingWindowRateLimiter(storage) if storage is not None else self._fallback
        self._degraded_since: float | None = None

    def _keys(
        self, bucket: str, principal: str | None, ip: str | None
    ) -> list[tuple[str, RateLimitItem, str]]:
        out: list[tuple[str, RateLimitItem, str]] = []
        for rule in self._rules.get(bucket, []):
            who = principal if rule.scope == "principal" else ip
            if not who:
                continue
            out.extend((rule.scope, item, who) for item in rule.items)
        return out

    async def check(self, bucket: str, *, principal: str | None = None, ip: str | None = None) -> None:
        """Count one request in ``bucket``; raise :class:`RateLimited` (nothing counted) when over a limit.

        ``principal`` is the authenticated caller (None for anonymous callers: they share no identity);
        ``ip`` the client address (None when unknown, e.g. stdio)."""
        if not self.enabled:
            return
        keys = self._keys(bucket, principal, ip)
        if not keys:
            return
        try:
            await self._check(self._limiter, bucket, keys)
            self._degraded_since = None
        except RateLimited:
            raise
        except Exception as exc:  # noqa: BLE001 - a storage outage must not take the API down
            if self._degraded_since is None:
                log.warning("rate-limit storage unavailable (%s); limiting per process until it is back", exc)
                self._degraded_since = time.monotonic()
            await self._check(self._fallback, bucket, keys)

    async def _check(
        self, limiter: MovingWindowRateLimiter, bucket: str, keys: list[tuple[str, RateLimitItem, str]]
    ) -> None:
        for scope, item, who in keys:
            if not await limiter.test(item, _PREFIX, bucket, scope, who):
                raise RateLimited(await _retry_after(limiter, item, bucket, scope, who), scope)
        for scope, item, who in keys:
            if not await limiter.hit(item, _PREFIX, bucket, scope, who):  # lost a race with another request
                raise RateLimited(await _retry_after(limiter, item, bucket, scope, who), scope)

    async def aclose(self) -> None:
        storage = self._limiter.storage
        close = getattr(getattr(storage, "bridge", None), "storage", None)
        closer = getattr(close, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                await closer()


async def _retry_after(
    limiter: MovingWindowRateLimiter, item: RateLimitItem, bucket: str, scope: str, who: str
) -> int:
    stats = await limiter.get_window_stats(item, _PREFIX, bucket, scope, who)
    return max(1, math.ceil(stats.reset_time - time.time()))


def _redis_storage(url: str) -> Storage:
    from limits.storage import storage_from_string

    from memory.settings import require_extra

    require_extra("redis", "redis")
    uri = url if url.startswith("async+") else "async+" + url
    storage = storage_from_string(uri, implementation="redispy", key_prefix="LIMITS:libromind")
    assert isinstance(storage, Storage)
    return storage
