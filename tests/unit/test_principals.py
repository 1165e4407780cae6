from __future__ import annotations

import pytest

from memory.principals import Principal, PrincipalError, validate_acl


def test_parse_and_scopes() -> None:
    c = Principal.parse("customer:42")
    assert c.scopes == ("public",) and c.key == "customer:42"
    e = Principal.parse("employee:ann:hr,Eng")
    assert e.groups == ("eng", "hr")
    assert e.scopes == ("group:eng", "group:hr", "internal", "public")
    assert str(e) == "employee:ann:eng,hr"
    a = Principal.parse("agent:claude")
    assert a.scopes == ("public",)
    assert a.with_grants("internal").scopes == ("internal", "public")


@pytest.mark.parametrize(
    "bad", ["", "customer", "customer:", "root:1", "customer:1:hr", "employee:a:B@d", "customer:a b"]
)
def test_bad_principals(bad: str) -> None:
    with pytest.raises(PrincipalError):
        Principal.parse(bad)


def test_acl_validation() -> None:
    assert validate_acl(" Public ") == "public"
    assert validate_acl("group:hr") == "group:hr"
    with pytest.raises(PrincipalError):
        validate_acl("secret")


def test_orders_role() -> None:
    assert Principal.parse("employee:x:orders").can("orders")
    assert not Principal.parse("customer:x").can("orders")
