"""Principals and document ACLs.

Principal strings: ``customer:<id>``, ``employee:<id>[:group1,group2]``, ``agent:<name>``.
Document ACLs: ``public``, ``internal`` or ``group:NAME``. A principal's ``scopes`` are the ACL values
it may read; every retrieval filters on them inside the index query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ACL_RE",
    "Principal",
    "PrincipalError",
    "ScopedPrincipal",
    "acl_scopes",
    "scoped_principal",
    "validate_acl",
    "ANONYMOUS",
]

ACL_RE = re.compile(r"^(public|internal|group:[a-z0-9][a-z0-9_.-]{0,62})$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
_GROUP_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")

Kind = Literal["customer", "employee", "agent"]


class PrincipalError(ValueError):
    """A principal string or ACL value is malformed."""


def validate_acl(acl: str) -> str:
    acl = acl.strip().lower()
    if not ACL_RE.match(acl):
        raise PrincipalError(f"Invalid ACL {acl!r}: use public, internal or group:NAME.")
    return acl


@dataclass(frozen=True)
class Principal:
    kind: Kind
    id: str
    groups: tuple[str, ...] = ()
    # extra scopes granted by configuration (e.g. MCP token scopes: "internal", "orders")
    grants: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str) -> Principal:
        parts = text.strip().split(":")
        kind = parts[0].lower()
        if kind not in ("customer", "employee", "agent") or len(parts) < 2 or not parts[1]:
            raise PrincipalError(
                f"Invalid principal {text!r}: use customer:<id>, employee:<id>[:group1,group2] or agent:<name>."
            )
        ident = parts[1]
        if not _ID_RE.match(ident):
            raise PrincipalError(f"Invalid principal id {ident!r}.")
        groups: tuple[str, ...] = ()
        if len(parts) == 3 and kind == "employee" and parts[2]:
            groups = tuple(sorted({g.strip().lower() for g in parts[2].split(",") if g.strip()}))
            for g in groups:
                if not _GROUP_RE.match(g):
                    raise PrincipalError(f"Invalid group name {g!r}.")
        elif len(parts) > 2:
            raise PrincipalError(f"Invalid principal {text!r}: only employees carry groups.")
        return cls(kind=kind, id=ident, groups=groups)  # type: ignore[arg-type]

    @property
    def key(self) -> str:
        """Stable identity without groups (owner of carts, orders, threads)."""
        return f"{self.kind}:{self.id}"

    def __str__(self) -> str:
        if self.groups:
            return f"{self.key}:{','.join(self.groups)}"
        return self.key

    @property
    def is_employee(self) -> bool:
        return self.kind == "employee"

    @property
    def scopes(self) -> tuple[str, ...]:
        """ACL values this principal may read, sorted (also the semantic-cache partition key)."""
        s = {"public"}
        if self.kind == "employee" or "internal" in self.grants:
            s.add("internal")
        s.update(f"group:{g}" for g in self.groups)
        s.update(g for g in self.grants if g.startswith("group:"))
        return tuple(sorted(s))

    def can(self, permission: str) -> bool:
        """Roles: employees in group 'orders' (or grants) may see every order."""
        return permission in self.grants or (self.kind == "employee" and permission in self.groups)

    def with_grants(self, *grants: str) -> Principal:
        return Principal(self.kind, self.id, self.groups, frozenset(self.grants | set(grants)))

    def allows(self, capability: str) -> bool:
        """Whether this caller may use a capability (e.g. ``orders``: quote, place, read its own orders).

        A principal acting for itself (web, Slack and Discord sessions) has every capability of its
        kind; a :class:`ScopedPrincipal` only those its credential's scopes name."""
        return True


def acl_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The ACL values among credential scopes (``internal`` and ``group:NAME``)."""
    return frozenset(s for s in scopes if s == "internal" or s.startswith("group:"))


@dataclass(frozen=True)
class ScopedPrincipal(Principal):
    """A principal acting through a scoped credential (an MCP bearer token, or the stdio scopes).

    Everything it may read or do is the *intersection* of what the principal may and what the
    credential's scopes allow, whatever the principal's kind: an ``employee:`` token without
    ``internal`` reads only public documents (plus the ``group:*`` scopes it has *and* belongs to), and
    without ``orders`` it may not quote, place or read orders. ``key`` (owner of threads, carts and
    orders) is unchanged.
    """

    token_scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def scopes(self) -> tuple[str, ...]:
        own = Principal.scopes.fget(self)  # type: ignore[attr-defined]
        allowed = {"public"} | acl_scopes(self.token_scopes)
        return tuple(s for s in own if s in allowed)

    def can(self, permission: str) -> bool:
        return permission in self.token_scopes and Principal.can(self, permission)

    def allows(self, capability: str) -> bool:
        return capability in self.token_scopes

    def with_grants(self, *grants: str) -> Principal:
        return ScopedPrincipal(
            self.kind, self.id, self.groups, frozenset(self.grants | set(grants)), self.token_scopes
        )


def scoped_principal(principal: Principal, token_scopes: Iterable[str]) -> ScopedPrincipal:
    """``principal`` restricted to a credential's scopes.

    An ``agent:`` has no reading rights of its own: its token's ACL scopes are its grants (then capped
    by the same scopes). Customers and employees keep their own rights, capped by the token: a token
    never widens what its principal may read."""
    ts = frozenset(str(s).strip().lower() for s in token_scopes if str(s).strip())
    grants = principal.grants | (acl_scopes(ts) if principal.kind == "agent" else frozenset())
    return ScopedPrincipal(principal.kind, principal.id, principal.groups, frozenset(grants), ts)


ANONYMOUS = Principal("customer", "anonymous")
