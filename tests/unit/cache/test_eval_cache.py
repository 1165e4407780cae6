"""evals/cache.py: split, scoring and threshold choice (offline; no services)."""

from __future__ import annotations

from evals.cache import DEFAULT_DATASET, Pair, choose, load_pairs, score, split_pairs, sweep


def _pairs() -> list[Pair]:
    return [
        Pair(f"p{i}", f"a{i}", f"b{i}", same=i % 2 == 0, domain="d" if i < 10 else "e") for i in range(20)
    ]


def test_split_is_deterministic_stratified_and_disjoint() -> None:
    tune, held = split_pairs(_pairs())
    assert split_pairs(list(reversed(_pairs()))) == (tune, held)
    assert not {p.id for p in tune} & {p.id for p in held} and len(tune) + len(held) == 20
    for domain in ("d", "e"):
        for same in (True, False):
            t = sum(1 for p in tune if p.domain == domain and p.same == same)
            h = sum(1 for p in held if p.domain == domain and p.same == same)
            assert abs(t - h) <= 1


def test_score() -> None:
    pairs = [
        Pair("1", "a", "b", True),
        Pair("2", "a", "b", True),
        Pair("3", "a", "b", False),
        Pair("4", "a", "b", False),
    ]
    s = score(pairs, [True, False, True, False], [5.0, 7.0])
    assert (s["correct_hits"], s["misses"], s["wrong_hits"], s["correct_misses"]) == (1, 1, 1, 1)
    assert s["wrong_hit_rate"] == 0.5 and s["near_miss_leak"] == 0.5 and s["hit_p50_ms"] == 6.0


def test_choose_respects_wrong_hit_budget() -> None:
    pairs = [
        Pair("1", "Who wrote Dune?", "Who is the author of Dune?", True),
        Pair("2", "Who wrote Dune?", "Who published Dune?", False),
    ]
    best = choose(sweep(pairs, [0.9, 0.95]))
    assert best["wrong_hits"] == 0 and best["correct_hits"] == 1


def test_dataset_loads_when_present() -> None:
    if DEFAULT_DATASET.exists():
        pairs = load_pairs(DEFAULT_DATASET)
        assert len(pairs) >= 200 and {p.same for p in pairs} == {True, False}
