"""Who may read an answer in a Slack conversation (no network: a fake Web API client)."""

from __future__ import annotations

from typing import Any

import pytest

from channels.slack.audience import (
    DM,
    PUBLIC,
    AudiencePrincipal,
    AudienceResolver,
    classify,
    principal_for,
)
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
        return {"ok": True, "user": {"id": user, "team_id": TEAM, **self.users.get(user, {})}}


GROUPS = {"U1": ["staff", "orders"], "U2": ["staff"], "U3": ["staff", "finance"]}
TEAM = "T1"


def test_audience_principal_keeps_identity_and_caps_scopes() -> None:
    p = principal_for("U1", ("orders", "staff"), PUBLIC)
    assert isinstance(p, AudiencePrincipal) and isinstance(p, Principal)
    assert p.key == "employee:U1" and p.scopes == ("public",) and not p.can("orders")
    full = principal_for("U1", ("orders", "staff"), DM)
    assert full.scopes == ("group:orders", "group:staff", "internal", "public") and full.can("orders")


async def test_a_direct_message_is_capped_by_who_the_user_is() -> None:
    client = FakeClient({}, [])
    resolver = AudienceResolver(GROUPS, guest_groups={"UG": ["partners"]})
    assert await resolver.resolve(client, "D123", channel_type="im", team_id=TEAM) is DM
    assert client.calls == []  # the conversation needs no lookup; its one reader does
    member = await resolver.reader(client, "U1", team_id=TEAM)
    assert member.full_member and member.internal and member.groups == {"orders", "staff"}
    assert principal_for("U1", tuple(member.groups), DM, internal=member.internal).scopes == (
        "group:orders",
        "group:staff",
        "internal",
        "public",
    )
    client.users = {"UG": {"is_restricted": True}, "U2": {"team_id": "T9"}}
    guest = await resolver.reader(client, "UG", team_id=TEAM)
    assert guest.kind == "guest" and not guest.internal and guest.groups == {"partners"}
    p = principal_for("UG", tuple(guest.groups), DM, internal=guest.internal)
    assert p.scopes == ("group:partners", "public") and not p.can("partners")
    external = await resolver.reader(client, "U2", team_id=TEAM)  # configured, but of another org
    assert external.kind == "external" and external.groups == frozenset()
    assert client.calls == ["users.info"] * 3


@pytest.mark.parametrize(
    ("user", "team", "enterprise", "kind"),
    [
        ({"team_id": "T1"}, "T1", None, "member"),
        ({"team_id": "T1", "is_restricted": True}, "T1", None, "guest"),
        ({"team_id": "T1", "is_ultra_restricted": True}, "T1", None, "guest"),
        ({"team_id": "T1", "is_stranger": True}, "T1", None, "external"),
        ({"team_id": "T2"}, "T1", None, "external"),
        ({"team_id": "T2", "enterprise_user": {"enterprise_id": "E1"}}, "T1", "E1", "member"),
        ({"team_id": "T2", "enterprise_user": {"enterprise_id": "E2"}}, "T1", "E1", "external"),
        ({}, "T1", None, "external"),  # no team to compare: fail closed
        ({"team_id": "T1"}, None, None, "external"),
        ({"team_id": "T1", "enterprise_user": {"enterprise_id": "E1"}}, None, "E1", "member"),
        ({"team_id": "T1", "enterprise_id": "E2"}, None, "E1", "external"),
        ({"team_id": "T1", "is_bot": True}, "T1", None, "bot"),
        ({"team_id": "T1", "is_app_user": True}, "T1", None, "bot"),
    ],
)
def test_classify(user: dict[str, Any], team: str | None, enterprise: str | None, kind: str) -> None:
    assert classify({"id": "UX", **user}, team_id=team, enterprise_id=enterprise) == kind


@pytest.mark.parametrize(
    "flags",
    [
        {"is_ext_shared": True, "is_shared": True},
        {"is_pending_ext_shared": True},
        {"is_shared": True, "is_org_shared": False},
    ],
)
async def test_externally_shared_channels_are_public_only(flags: dict[str, bool]) -> None:
    audience = await AudienceResolver(GROUPS).resolve(FakeClient(flags, ["U1"]), "C1", team_id=TEAM)
    p = principal_for("U1", ("orders", "staff"), audience)
    assert p.scopes == ("public",)


async def test_private_channel_is_the_intersection_of_members_groups() -> None:
    client = FakeClient({"is_private": True}, ["U1", "U2", "U3", "UBOT", "UAPP"], {"UAPP": {"is_bot": True}})
    audience = await AudienceResolver(GROUPS).resolve(client, "G1", bot_user_id="UBOT", team_id=TEAM)
    p = principal_for("U1", ("orders", "staff"), audience)
    assert p.scopes == ("group:staff", "internal", "public")
    # a member without configured groups empties the intersection (but stays internal)
    client2 = FakeClient({"is_private": True}, ["U1", "U9"])
    audience2 = await AudienceResolver(GROUPS).resolve(client2, "G2", team_id=TEAM)
    assert principal_for("U1", ("orders", "staff"), audience2).scopes == ("internal", "public")


async def test_public_channel_gets_no_group_documents_and_guests_make_it_public_only() -> None:
    audience = await AudienceResolver(GROUPS).resolve(
        FakeClient({"is_private": False}, ["U1", "U2"]), "C1", team_id=TEAM
    )
    assert principal_for("U1", ("staff",), audience).scopes == ("internal", "public")
    guest = FakeClient({"is_private": True}, ["U1", "UG"], {"UG": {"is_restricted": True}})
    audience = await AudienceResolver(GROUPS).resolve(guest, "G3", team_id=TEAM)
    assert principal_for("U1", ("staff",), audience).scopes == ("public",)
    # configured groups do not make a guest (or a user of another organisation) a full member
    for flags in ({"is_restricted": True}, {"team_id": "T9"}, {"is_stranger": True}):
        client = FakeClient({"is_private": True}, ["U1", "U2"], {"U2": flags})
        audience = await AudienceResolver(GROUPS).resolve(client, "G5", team_id=TEAM)
        assert principal_for("U1", ("staff",), audience).scopes == ("public",), flags
    # a guest granted LIBROMIND_SLACK_GUEST_GROUPS keeps the groups every reader shares, never internal
    client = FakeClient({"is_private": True}, ["U1", "U2"], {"U2": {"is_restricted": True}})
    resolver = AudienceResolver(GROUPS, guest_groups={"U2": ["staff"]})
    audience = await resolver.resolve(client, "G7", team_id=TEAM)
    assert principal_for("U1", ("staff",), audience).scopes == ("group:staff", "public")
    # another organisation's bot in the channel counts as an outsider; our own bots do not
    bots = FakeClient({"is_private": False}, ["U1", "UB1"], {"UB1": {"is_bot": True, "team_id": "T9"}})
    assert not (await AudienceResolver(GROUPS).resolve(bots, "C6", team_id=TEAM)).internal


async def test_large_channels_are_public_only_and_lookups_are_cached() -> None:
    client = FakeClient({"is_private": True}, [f"U{i}" for i in range(10)])
    resolver = AudienceResolver(GROUPS, max_members=5)
    audience = await resolver.resolve(client, "G4", team_id=TEAM)
    assert not audience.internal
    n = len(client.calls)
    await resolver.resolve(client, "G4", team_id=TEAM)
    assert len(client.calls) == n


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBROMIND_SLACK_GROUPS", '{"U1": ["Staff", "orders"]}')
    monkeypatch.setenv("LIBROMIND_SLACK_BASE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("LIBROMIND_SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("LIBROMIND_SLACK_GUEST_GROUPS", '{"UG": ["Partners"]}')
    s = SlackSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.groups_of("U1") == ("orders", "staff") and s.groups_of("U2") == ()
    assert s.guest_groups == {"UG": ["partners"]} and s.http_ready() is None
    assert s.base_url == "http://127.0.0.1:9/api/"
    assert "s3cret" not in repr(s)
    monkeypatch.setenv("LIBROMIND_SLACK_GROUPS", '{"U1": ["bad group!"]}')
    with pytest.raises(ValueError):
        SlackSettings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("blank", ["", "  ", "\t"])
def test_blank_secrets_are_unset(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    for name in ("SIGNING_SECRET", "BOT_TOKEN", "APP_TOKEN"):
        monkeypatch.setenv(f"LIBROMIND_SLACK_{name}", blank)
    s = SlackSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.signing_secret is None and s.bot_token is None and s.app_token is None
    assert "LIBROMIND_SLACK_SIGNING_SECRET" in (s.http_ready() or "")
