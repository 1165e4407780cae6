"""Who may read an answer in a Slack conversation (no network: a fake Web API client)."""

from __future__ import annotations

from typing import Any

import pytest

from channels.slack.audience import DM, PUBLIC, AudiencePrincipal, AudienceResolver, principal_for
from channels.slack.settings import SlackSettings
from memory.principals import Principal


class FakeClient:
    def __init__(
        self, channel: dict[str, Any], members: list[str], users: dict[str, dict] | None = None
    ) -> None:
        self.channel, self.members, self.users = channel, members, users or {}
        self.calls: list[str] = []

    async def conversations_info(self, channel: str) -> dict[str, Any]:
        self.calls.append("conversations.info")
        return {"ok": True, "channel": {"id": channel, **self.channel}}

    async def conversations_members(self, channel: str, limit: int, cursor: str | None) -> dict[str, Any]:
        self.calls.append("conversations.members")
        return {"ok": True, "members": self.members, "response_metadata": {"next_cursor": ""}}

    async def users_info(self, user: str) -> dict[str, Any]:
        self.calls.append("users.info")
        return {"ok": True, "user": {"id": user, **self.users.get(user, {})}}


GROUPS = {"U1": ["staff", "orders"], "U2": ["staff"], "U3": ["staff", "finance"]}


def test_audience_principal_keeps_identity_and_caps_scopes() -> None:
    p = principal_for("U1", ("orders", "staff"), PUBLIC)
    assert isinstance(p, AudiencePrincipal) and isinstance(p, Principal)
    assert p.key == "employee:U1" and p.scopes == ("public",) and not p.can("orders")
    full = principal_for("U1", ("orders", "staff"), DM)
    assert full.scopes == ("group:orders", "group:staff", "internal", "public") and full.can("orders")


async def test_direct_messages_need_no_lookup() -> None:
    client = FakeClient({}, [])
    resolver = AudienceResolver(GROUPS)
    assert await resolver.resolve(client, "D123", channel_type="im") is DM
    assert client.calls == []


@pytest.mark.parametrize(
    "flags",
    [
        {"is_ext_shared": True, "is_shared": True},
        {"is_pending_ext_shared": True},
        {"is_shared": True, "is_org_shared": False},
    ],
)
async def test_externally_shared_channels_are_public_only(flags: dict[str, bool]) -> None:
    audience = await AudienceResolver(GROUPS).resolve(FakeClient(flags, ["U1"]), "C1")
    p = principal_for("U1", ("orders", "staff"), audience)
    assert p.scopes == ("public",)


async def test_private_channel_is_the_intersection_of_members_groups() -> None:
    client = FakeClient({"is_private": True}, ["U1", "U2", "U3", "UBOT", "UAPP"], {"UAPP": {"is_bot": True}})
    audience = await AudienceResolver(GROUPS).resolve(client, "G1", bot_user_id="UBOT")
    p = principal_for("U1", ("orders", "staff"), audience)
    assert p.scopes == ("group:staff", "internal", "public")
    # a member without configured groups empties the intersection (but stays internal)
    client2 = FakeClient({"is_private": True}, ["U1", "U9"])
    audience2 = await AudienceResolver(GROUPS).resolve(client2, "G2")
    assert principal_for("U1", ("orders", "staff"), audience2).scopes == ("internal", "public")


async def test_public_channel_gets_no_group_documents_and_guests_make_it_public_only() -> None:
    audience = await AudienceResolver(GROUPS).resolve(FakeClient({"is_private": False}, ["U1", "U2"]), "C1")
    assert principal_for("U1", ("staff",), audience).scopes == ("internal", "public")
    guest = FakeClient({"is_private": True}, ["U1", "UG"], {"UG": {"is_restricted": True}})
    audience = await AudienceResolver(GROUPS).resolve(guest, "G3")
    assert principal_for("U1", ("staff",), audience).scopes == ("public",)


async def test_large_channels_are_public_only_and_lookups_are_cached() -> None:
    client = FakeClient({"is_private": True}, [f"U{i}" for i in range(10)])
    resolver = AudienceResolver(GROUPS, max_members=5)
    audience = await resolver.resolve(client, "G4")
    assert not audience.internal
    n = len(client.calls)
    await resolver.resolve(client, "G4")
    assert len(client.calls) == n


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBROMIND_SLACK_GROUPS", '{"U1": ["Staff", "orders"]}')
    monkeypatch.setenv("LIBROMIND_SLACK_BASE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("LIBROMIND_SLACK_SIGNING_SECRET", "s3cret")
    s = SlackSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.groups_of("U1") == ("orders", "staff") and s.groups_of("U2") == ()
    assert s.base_url == "http://127.0.0.1:9/api/"
    assert "s3cret" not in repr(s)
    monkeypatch.setenv("LIBROMIND_SLACK_GROUPS", '{"U1": ["bad group!"]}')
    with pytest.raises(ValueError):
        SlackSettings(_env_file=None)  # type: ignore[call-arg]
