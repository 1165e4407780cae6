"""Who may read an answer posted in a conversation, as a :class:`Principal` the adapter computes.

An answer posted in a channel is read by every member, so it must be built only from documents every
member may read. The asker keeps their identity (``employee:<slack user id>`` owns the thread, orders and
feedback) but their readable scopes are capped:

- direct message: the asker's own scopes (``public``, ``internal`` and their configured groups);
- private internal channel: ``public`` + ``internal`` + the groups *every* human member has (intersection
  of ``LIBROMIND_SLACK_GROUPS`` over the members; bots are left out, a member without groups empties it);
- public internal channel: ``public`` + ``internal`` (any employee may join later and read the history);
- channel shared with another organisation (``is_ext_shared``, ``is_pending_ext_shared``, or ``is_shared``
  without ``is_org_shared``), or with a guest / external member, or too large / unknown: ``public`` only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from memory.principals import Principal

__all__ = ["AudiencePrincipal", "Audience", "AudienceResolver", "principal_for"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudiencePrincipal(Principal):
    """A principal whose readable scopes are capped to what its audience may read.

    ``key`` is unchanged (the asker), ``groups`` is already the intersection, and ``internal=False``
    removes the ``internal`` scope an employee would otherwise have.
    """

    internal: bool = True

    @property
    def scopes(self) -> tuple[str, ...]:
        base = Principal.scopes.fget(self)  # type: ignore[attr-defined]
        return tuple(s for s in base if s != "internal" or self.internal)

    def can(self, permission: str) -> bool:
        return self.internal and Principal.can(self, permission)


@dataclass(frozen=True)
class Audience:
    """What every member of a conversation may read: ``None`` groups means "no cap" (a DM)."""

    internal: bool
    groups: frozenset[str] | None
    reason: str


DM = Audience(internal=True, groups=None, reason="direct message")
PUBLIC = Audience(internal=False, groups=frozenset(), reason="public only")


def principal_for(user_id: str, groups: tuple[str, ...], audience: Audience) -> AudiencePrincipal:
    own = set(groups)
    capped = own if audience.groups is None else own & set(audience.groups)
    return AudiencePrincipal(
        kind="employee", id=user_id, groups=tuple(sorted(capped)), internal=audience.internal
    )


class AudienceResolver:
    """Looks up a conversation (conversations.info, conversations.members, users.info) with a TTL cache."""

    def __init__(self, groups: dict[str, list[str]], *, ttl: float = 60.0, max_members: int = 500) -> None:
        self.groups = groups
        self.ttl = ttl
        self.max_members = max_members
        self._cache: dict[str, tuple[float, Audience]] = {}
        self._users: dict[str, tuple[float, dict[str, Any]]] = {}

    async def resolve(
        self, client: Any, channel_id: str, *, channel_type: str | None = None, bot_user_id: str | None = None
    ) -> Audience:
        if channel_type == "im" or channel_id.startswith("D"):
            return DM
        now = time.monotonic()
        hit = self._cache.get(channel_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        audience = await self._lookup(client, channel_id, bot_user_id)
        self._cache[channel_id] = (now, audience)
        log.info("slack audience of %s: %s", channel_id, audience.reason)
        return audience

    async def _lookup(self, client: Any, channel_id: str, bot_user_id: str | None) -> Audience:
        info = (await client.conversations_info(channel=channel_id)).get("channel") or {}
        if info.get("is_im"):
            return DM
        if (
            info.get("is_ext_shared")
            or info.get("is_pending_ext_shared")
            or (info.get("is_shared") and not info.get("is_org_shared"))
        ):
            return Audience(False, frozenset(), "shared with another organisation: public only")
        members = await self._members(client, channel_id)
        if members is None:
            return Audience(False, frozenset(), f"more than {self.max_members} members: public only")
        common: set[str] | None = None
        for member in members:
            if member == bot_user_id:
                continue
            configured = self.groups.get(member)
            if configured is None:
                user = await self._user(client, member)
                if user.get("is_bot") or user.get("is_app_user") or member == "USLACKBOT":
                    continue
                if user.get("is_restricted") or user.get("is_ultra_restricted") or user.get("is_stranger"):
                    return Audience(False, frozenset(), f"guest or external member {member}: public only")
                configured = []
            common = set(configured) if common is None else common & set(configured)
        if not info.get("is_private"):
            # any employee may join a public channel later and read its history: no group documents
            return Audience(True, frozenset(), "public internal channel: public + internal")
        groups = frozenset(common or ())
        return Audience(True, groups, f"private channel, common groups {sorted(groups)}")

    async def _members(self, client: Any, channel_id: str) -> list[str] | None:
        out: list[str] = []
        cursor = None
        while True:
            resp = await client.conversations_members(channel=channel_id, limit=200, cursor=cursor)
            out.extend(resp.get("members") or [])
            if len(out) > self.max_members:
                return None
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return out

    async def _user(self, client: Any, user_id: str) -> dict[str, Any]:
        now = time.monotonic()
        hit = self._users.get(user_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        user = (await client.users_info(user=user_id)).get("user") or {}
        self._users[user_id] = (now, user)
        return user
