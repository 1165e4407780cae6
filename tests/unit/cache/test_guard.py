"""The near-miss guard: deterministic features and the rules tuned on the cache-pairs set."""

from __future__ import annotations

import pytest

from memory.cache.guard import GuardConfig, features, guard_reason, pick


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("Must the preinst script exit 0?", "Must the postinst script exit 0?", "rare"),
        ("Must I sign in?", "Must I not sign in?", "negation"),
        ("Can packages use convenience copies?", "Can't packages use convenience copies?", "negation"),
        (
            "Under what name do native packages install it?",
            "Under what name do non-native packages install it?",
            "negation",
        ),
        ("What changed in Debian Policy 4.6.2?", "What changed in Debian Policy 4.6.1?", "numbers"),
        ("Order two copies of The Firm", "Order three copies of The Firm", "numbers"),
        ("Does the first stanza apply?", "Does the last stanza apply?", "numbers"),
        ('Search for "dark tower"', 'Search for "dark matter"', "quoted"),
        ("Books by Dean Koontz that are in stock", "Books by Dean Koontz that are out of stock", "polar"),
        ("Add The Rainmaker to my cart", "Remove The Rainmaker from my cart", "polar"),
        ("Do you have Little Women?", "Do you have Little Men?", "names"),
        (
            "Which packages may install files in /lib64?",
            "Which packages may install files in /usr/lib64?",
            "numbers",
        ),
        (
            "How often are scripts in /etc/cron.weekly run?",
            "How often are scripts in /etc/cron.monthly run?",
            "identifiers",
        ),
        ("What year was Fahrenheit 451 published?", "How much does Fahrenheit 451 cost?", "intents"),
        (
            "Who is the author of Memoirs of a Geisha?",
            "Who is the publisher of Memoirs of a Geisha?",
            "intents",
        ),
        (
            "Should log files be deleted when the package is removed?",
            "Should log files be deleted when the package is purged?",
            "edit",
        ),
        ("Show me books by Jane Austen", "Show me books about Jane Austen", "edit"),
    ],
)
def test_near_misses_rejected(a: str, b: str, reason: str) -> None:
    assert guard_reason(a, b) == reason
    assert guard_reason(b, a) == reason, "the guard is symmetric"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Who wrote Wuthering Heights?", "Who is the author of Wuthering Heights?"),
        ("Which books did Neil Gaiman write?", "Which books were written by Neil Gaiman?"),
        ("How much is The Pelican Brief?", "What's the cost of The Pelican Brief?"),
        ("What's the price of The Green Mile?", "How much is The Green Mile by Stephen King?"),
        ("Books by Stephen King?", "books by stephen king"),
        ("I can't log in", "I cannot log in"),
        ('How do I set up "foo.cfg"?', "how do i set up foo.cfg"),
        ("Do you sell Pride and Prejudice?", "Can I buy Pride and Prejudice?"),
    ],
)
def test_paraphrases_allowed(a: str, b: str) -> None:
    assert guard_reason(a, b) is None
    assert guard_reason(b, a) is None


def test_features_are_deterministic() -> None:
    f = features("Where is debian/control in Pratchett's libfoo-dev package? I can't find v2.3")
    assert f.negated and f.numbers == frozenset({"2.3"})
    assert {"debian/control", "libfoo-dev"} <= f.identifiers
    assert "pratchett" in f.names
    assert features("Where is debian/control in Pratchett's libfoo-dev package? I can't find v2.3") == f


def test_disabled_guard_allows_everything() -> None:
    assert guard_reason("Must I?", "Must I not?", GuardConfig(enabled=False)) is None


def test_pick_returns_first_allowed_candidate() -> None:
    cands = [("Who published The Hobbit?", "pub"), ("Who is the author of The Hobbit?", "auth")]
    assert pick(cands, "Who wrote The Hobbit?") == "auth"
    assert pick([], "x") is None
