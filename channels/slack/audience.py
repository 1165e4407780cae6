"""Who may read an answer posted in a conversation, as a :class:`Principal` the adapter computes.

An answer is read by the asker and, in a channel, by every member, so it must be built only from
documents every reader may read. Each reader is looked up with ``users.info`` (cached for the TTL):

- a **full member** of our workspace (or of our Enterprise Grid org) reads ``public``, ``internal`` and
  the groups ``LIBROMIND_SLACK_GROUPS`` gives them;
- a **guest** (``is_restricted`` / ``is_ultra_restricted``), an **external** user (``is_stranger``, or a
  ``team_id`` other than the workspace's: Slack Connect) or a **bot / app user** reads ``public`` only,
  plus the groups ``LIBROMIND_SLACK_GUEST_GROUPS`` explicitly gives that user (never ``internal``);
- a user whose profile cannot be read (or whose team cannot be compared) is treated as external.

The asker keeps their identity (``employee:<slack user id>`` owns the thread, orders and feedback) but
their readable scopes are capped to what the conversation's audience may read:

- direct message: the asker's own scopes (as above: a guest asking in a DM still reads public only);
- private channel: the intersection of what every human member may read (our own bot is left out; a
  member without groups empties the groups; a guest or external member removes ``internal``);
- public channel: ``public`` + ``internal`` at most (any employee may join later and read the history);
- channel shared with another organisation (``is_ext_shared``, ``is_pending_ext_shared``, or
  ``is_shared`` without ``is_org_shared``), too large or unknown: ``public`` only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from memory.principals import Principal

__all__ = [
    "AudiencePrincipal",
    "Audience",
    "AudienceResolver",
    "Reader",
    "DM",
    "PUBLIC",
    "classify",
    "principal_for",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudiencePrincipal(Principal):
    """A principal whose readable scopes are capped to what its audience may read.

    ``key`` is unchanged (the asker), ``groups`` is already the intersection, and ``internal=False``
    removes the ``internal`` scope an employee would otherwise have (and every staff permission).
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
    """What every reader of a conversation may read: ``None`` groups means "no cap" (a DM)."""

    internal: bool
    groups: frozenset[str] | None
    reason: str


@dataclass(frozen=True)
class Reader:
    """One Slack user as a reader: ``kind`` is member, guest, external or bot."""

    user_id: str
    kind: str
    internal: bool
    groups: frozenset[str]

    @property
    def full_member(self) -> bool:
        return self.kind == "member"


DM = Audience(internal=True, groups=None, reason="direct message")
PUBLIC = Audience(internal=False, groups=frozenset(), reason="public only")


def classify(user: dict[str, Any], *, team_id: str | None, enterprise_id: str | None = None) -> str:
    """``member``, ``guest``, ``external`` or ``bot`` from a ``users.info`` user object."""
    if user.get("is_bot") or user.get("is_app_user") or user.get("id") == "USLACKBOT":
        return "bot"
    if user.get("is_stranger"):
        return "external"
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return "guest"
    home = user.get("team_id")
    if team_id and home == team_id:
        return "member"
    org = (user.get("enterprise_user") or {}).get("enterprise_id") or user.get("enterprise_id")
    if enterprise_id and org == enterprise_id:
        return "member"  # another workspace of our own Enterprise Grid org (or an org-wide install)
    return "external"  # another organisation, or no team to compare with: fail closed


def principal_for(
    user_id: str, groups: tuple[str, ...] | frozenset[str], audience: Audience, *, internal: bool = True
) -> AudiencePrincipal:
    """The asker (own ``groups``, ``internal`` if a full member) capped to ``audience``."""
    own = set(groups)
    capped = own if audience.groups is None else own & set(audience.groups)
    return AudiencePrincipal(
        kind="employee", id=user_id, groups=tuple(sorted(capped)), internal=audience.internal and internal
    )


class AudienceResolver:
    """Looks up readers (users.info) and conversations (conversations.info, conversations.members)
    with a TTL cache."""

    def __init__(
        self,
        groups: dict[str, list[str]],
        *,
        guest_groups: dict[str, list[str]] | None = None,
        ttl: float = 60.0,
        max_members: int = 500,
    ) -> None:
        self.groups = groups
        self.guest_groups = guest_groups or {}
        self.ttl = ttl
        self.max_members = max_members
        self._cache: dict[tuple[str, str | None, str | None], tuple[float, Audience]] = {}
        self._users: dict[str, tuple[float, dict[str, Any]]] = {}

    # ------------------------------------------------------------------------------------ readers
    async def reader(
        self, client: Any, user_id: str, *, team_id: str | None, enterprise_id: str | None = None
    ) -> Reader:
        """What this user may read on their own (their DM audience)."""
        user = await self._user(client, user_id)
        kind = classify(user, team_id=team_id, enterprise_id=enterprise_id)
        if kind == "member":
            return Reader(user_id, kind, True, frozenset(self.groups.get(user_id, ())))
        return Reader(user_id, kind, False, frozenset(self.guest_groups.get(user_id, ())))

    # ------------------------------------------------------------------------------------ conversations
    async def resolve(
        self,
        client: Any,
        channel_id: str,
        *,
        channel_type: str | None = None,
        bot_user_id: str | None = None,
        team_id: str | None = None,
        enterprise_id: str | None = None,
    ) -> Audience:
        """What every member of the conversation may read (a DM: no cap; the asker is capped apart)."""
        if channel_type == "im" or channel_id.startswith("D"):
            return DM
        now = time.monotonic()
        key = (channel_id, team_id, enterprise_id)
        hit = self._cache.get(key)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        audience = await self._lookup(client, channel_id, bot_user_id, team_id, enterprise_id)
        self._cache[key] = (now, audience)
        log.info("slack audience of %s: %s", channel_id, audience.reason)
        return audience

    async def _lookup(
        self,
        client: Any,
        channel_id: str,
        bot_user_id: str | None,
        team_id: str | None,
        enterprise_id: str | None,
    ) -> Audience:
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
        internal = True
        common: set[str] | None = None
        outsiders: list[str] = []
        for member in members:
            if member == bot_user_id:
                continue
            reader = await self.reader(client, member, team_id=team_id, enterprise_id=enterprise_id)
            if reader.kind == "bot":
                user = await self._user(client, member)
                if user.get("team_id") == team_id or member == "USLACKBOT":
                    continue  # our own workspace's bots and apps are not readers
            if not reader.full_member:
                internal = False
                outsiders.append(f"{reader.kind} {member}")
            common = set(reader.groups) if common is None else common & reader.groups
        if not info.get("is_private"):
            # any employee may join a public channel later and read its history: no group documents
            if not internal:
                return Audience(
                    False, frozenset(), f"public channel with {', '.join(outsiders)}: public only"
                )
            return Audience(True, frozenset(), "public internal channel: public + internal")
        groups = frozenset(common or ())
        if not internal:
            return Audience(
                False, groups, f"private channel with {', '.join(outsiders)}: public + {sorted(groups)}"
            )
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
