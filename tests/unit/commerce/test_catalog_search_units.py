"""Catalog search building blocks without a database: query words, tier SQL and scores."""

from __future__ import annotations

import re

import pytest

from memory.commerce.catalog import search as S
from memory.commerce.catalog.match import _phrase

TIERS = ("exact", "words", "words1", "hot_fuzzy", "fuzzy")


def test_query_words_keep_content_words_once() -> None:
    assert S.query_words("The Lord of the Rings: The Return of the King") == [
        "lord",
        "rings",
        "return",
        "king",
    ]
    assert S.query_words("I Am Who I Am") == ["who"]
    assert S.query_words("a b c of it") == []
    assert S.query_words("love love LOVE") == ["love"]
    assert len(S.query_words(" ".join(f"word{i}" for i in range(20)))) == 8


def test_fuzzy_query_is_cut_to_five_words_and_40_characters() -> None:
    assert S._fuzzy_query("one two three four five six") == "one two three four five"
    cut = S._fuzzy_query("Supercalifragilistic expialidocious marvellously long words")
    assert len(cut) <= 40 and cut == "Supercalifragilistic expialidocious"


@pytest.mark.parametrize(
    "query", ["It", "Dune", "Phantom Stirke", "Great Moments of Baseblal", "a b c d e f g h i j"]
)
@pytest.mark.parametrize("filtered", [False, True])
def test_every_tier_has_all_its_parameters(query: str, filtered: bool) -> None:
    params: dict[str, object] = {}
    where = S._filters(params, "king" if filtered else None, None, 1990, None, None, 2000, True)
    s = S._Query.make(query, (" AND " + " AND ".join(where)) if where else "", params)
    for tier in TIERS:
        if (tier == "words" and not s.words) or (tier == "words1" and len(s.words) < 2):
            continue  # _relevance runs these tiers only for queries with words
        sql = S._tier_sql(tier, s)
        used = set(re.findall(r"%\((\w+)\)s", sql))
        assert used <= set(s.params) | {"n"}, (tier, used - set(s.params))
        assert sql.count("(") == sql.count(")"), tier
        if filtered:
            assert "b.author ILIKE %(author)s" in sql and "b.stock > 0" in sql, tier


def test_words1_leaves_out_each_word_in_turn() -> None:
    s = S._Query.make("Great Moments of Baseblal", "", {})
    sql = S._tier_sql("words1", s)
    assert s.words == ["great", "moments", "baseblal"]
    for k in range(3):
        variant = re.search(rf"v{k} AS MATERIALIZED \((.*?)\), v|v{k} AS MATERIALIZED \((.*?)\), w AS", sql)
        assert variant is not None
        body = variant.group(1) or variant.group(2)
        assert f"%(w{k})s" not in body and all(f"%(w{j})s" in body for j in range(3) if j != k)
    assert f"<= {S.WORDS1_CAP}" in sql  # a left-out word whose companions match too many books tells nothing


def test_exact_title_bonus_beats_popularity_but_not_a_closer_match() -> None:
    exact_unread = S._score(1.0, 0.0, 0, exact=True)
    assert exact_unread > S._score(1.0, 0.0, 2600)  # "Eagle" before the most-read "The First Eagle"
    assert S._score(0.9, 0.0, 0, exact=True) < S._score(1.0, 0.0, 0)


def test_three_word_phrases_catch_titles_of_short_words() -> None:
    assert _phrase(["Life", "of", "Pi"])
    assert not _phrase(["of", "the", "a"])
    assert not _phrase(["I", "am", "x"])
