"""Pure order helpers: confirmation tokens (HMAC) and quantity limits."""

from __future__ import annotations

import pytest

from memory.commerce import BadRequest
from memory.commerce.orders import Limits, _qty, sign_token, verify_token

PAYLOAD = {
    "q": "q_abc",
    "p": "customer:alice",
    "i": [["9780195153446", 2, 1299]],
    "t": 2598,
    "c": "USD",
    "e": 2_000_000_000,
}


def test_token_roundtrip() -> None:
    tok = sign_token("s3cret", PAYLOAD)
    assert verify_token("s3cret", tok) == PAYLOAD


@pytest.mark.parametrize("mutate", ["body", "sig", "secret", "garbage", "prefix"])
def test_tampered_tokens_are_refused(mutate: str) -> None:
    tok = sign_token("s3cret", PAYLOAD)
    prefix, body, sig = tok.split(".")
    secret = "s3cret"
    if mutate == "body":  # e.g. a lower price
        tok = ".".join([prefix, sign_token("s3cret", {**PAYLOAD, "t": 1}).split(".")[1], sig])
    elif mutate == "sig":
        tok = ".".join([prefix, body, sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")])
    elif mutate == "secret":
        secret = "other"
    elif mutate == "garbage":
        tok = "not-a-token"
    else:
        tok = ".".join(["q2", body, sig])
    with pytest.raises(BadRequest, match="invalid or was altered"):
        verify_token(secret, tok)


@pytest.mark.parametrize("bad", [0, -1, 21, 10**9, 1.5, "two", True, None])
def test_quantity_limits(bad: object) -> None:
    with pytest.raises(BadRequest):
        _qty(bad, Limits())


def test_quantity_ok_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _qty(1, Limits()) == 1 and _qty(20, Limits()) == 20 and _qty("3", Limits()) == 3
    monkeypatch.setenv("LIBROMIND_ORDER_MAX_QTY", "5")
    with pytest.raises(BadRequest, match="At most 5"):
        _qty(6, Limits.from_env())
