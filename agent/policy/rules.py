"""Deterministic rules every policy shares: entities, injections, confirmations, follow-ups.

Confirmation of an order is always decided here (never by a model): only an explicit yes from the user
in the turn after the quote places an order.
"""

from __future__ import annotations

import re
from typing import Any, Literal

__all__ = [
    "find_isbns",
    "find_quantity",
    "find_order_id",
    "is_injection",
    "confirmation",
    "ordinal_index",
    "is_followup",
    "rewrite_followup",
    "asks_internal",
    "asks_store_help",
    "topic_focus",
    "asks_duration",
    "names_no_book",
    "states_duration",
    "BUY_RE",
    "STATUS_RE",
    "CART_RE",
    "CANCEL_RE",
    "normalize_isbn",
    "words",
]

_ISBN_RE = re.compile(
    r"\b(?:ISBN(?:-1[03])?:?\s*)?((?:97[89][-\s]?)?\d[-\s]?\d{2,5}[-\s]?\d{2,7}[-\s]?\d{1,7}[-\s]?[\dXx])\b"
)
_ORDER_ID_RE = re.compile(
    r"\b(?:order\s*(?:id|number|no\.?)?\s*#?\s*)([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|[A-Za-z]{0,4}-?\d{1,10})\b",
    re.I,
)
_UUID_RE = re.compile(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", re.I)
BUY_RE = re.compile(
    r"\b(buy|purchase|order(?!s?\s+(status|history))|i'?ll take|get me|reserve|add\b.*\bto (my )?(cart|basket)|checkout|check out)\b",
    re.I,
)
STATUS_RE = re.compile(
    r"\b(where is my order|order status|status of (my )?order|my orders|order history|track(ing)? (my )?order|"
    r"has my order|did my order|orders i (placed|made)|list (my )?orders)\b",
    re.I,
)
CART_RE = re.compile(
    r"\b(show|what'?s in|view|see)\b.{0,12}\b(my )?(cart|basket)\b|\bmy (cart|basket)\b", re.I
)
CANCEL_RE = re.compile(r"\bcancel\b.{0,20}\border\b", re.I)
_NUM_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "single": 1,
    "two": 2,
    "couple": 2,
    "pair": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_QTY_RE = re.compile(
    r"\b(\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|a pair of)\s+"
    r"(?:more\s+)?(copies|copy|books|book|of\b|x\b)",
    re.I,
)
_INJECTION_RE = re.compile(
    r"(ignore (all |any |the )?(previous|prior|above|earlier) (instructions|rules|prompts?)|disregard (all |your |the )?"
    r"(previous |prior )?(instructions|rules)|you are now|act as (an? )?(unrestricted|jailbroken|dan)|developer mode|"
    r"system prompt|reveal (your|the) (instructions|prompt|rules)|jailbreak|pretend (you are|to be)|"
    r"without (asking|confirmation|confirming)|skip (the )?confirmation|no need to confirm|"
    r"(print|show|dump|list) (all )?(the )?(database|passwords?|secrets?|api keys?|other (users|customers)))",
    re.I,
)
_YES_RE = re.compile(
    r"^\s*(yes|y|yeah|yep|yup|sure|ok|okay|confirm(ed)?|i confirm|go ahead|do it|place (it|the order)|please do|"
    r"correct|absolutely|definitely|buy it|proceed)\b[\s!.,]*(please|thanks|thank you|place it|go ahead|"
    r"confirm(ed)?|do it|the order)?[\s!.]*$",
    re.I,
)
_NO_RE = re.compile(
    r"^\s*(no|n|nope|nah|cancel|stop|don'?t|do not|never ?mind|abort|not now|wait|forget it)\b", re.I
)
_ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
    "last": -1,
}
_ORDINAL_RE = re.compile(
    r"\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\b(?:\s+(one|book|title|item))?|"
    r"\b(?:number|no\.?|#)\s*([1-5])\b",
    re.I,
)
_FOLLOWUP_START = re.compile(
    r"^\s*(and what about|and how about|and for|what about|how about|what of|same for|same question for|"
    r"ok and|what if|also|then|and)\b",
    re.I,
)
_PRONOUN_RE = re.compile(r"\b(it|that|this|that one|this one|them|those|these|its|the same)\b", re.I)
_INTERNAL_RE = re.compile(
    r"\b(internal|staff[- ]only|staff (policy|policies|handbook|manual|discount|procedures?)|employee(s)?( handbook|"
    r" discount| policy| policies)?|confidential|back[- ]office|for staff|staff members?|shift|payroll|"
    r"cash drawer|till|escalation|refund authori[sz]ation|supplier (terms|margins?)|wholesale|incident response)\b",
    re.I,
)
# How the shop works for buyers (returns, refunds, exchanges): documentation questions, not catalog
# searches or purchases. Phrases only, so titles such as "The Return of the King" do not match.
_STORE_HELP_RE = re.compile(
    r"\b(refund(s|ed|ing)?|money back|(send|bring|take|give)\s+(it|them|(a|an|the|my|this|that)\s+(\w+\s+)?"
    r"(books?|orders?|purchases?|items?|copy|copies|gifts?))\s+back\b|"
    r"(send|bring|take|give)(s|ing)?\s+back\s+(it|them|a|an|the|my|this|that|books?|orders?|purchases?)\b|"
    r"return(s|ed|ing)?\s+(polic(y|ies)|period|window|deadline|time\s*limit|rules?|fees?|label|address)|"
    r"(polic(y|ies)|time\s*limit|deadline|window|period|days?|weeks?|how long)\s+(\w+\s+){0,3}?"
    r"(for|to|on)\s+return(s|ing)?|"
    r"(return(s|ed|ing)?|exchang(e|es|ed|ing))\s+(it|them|this|that|my|a|an|the)\s+(\w+\s+){0,2}?"
    r"(books?|orders?|purchases?|items?|copy|copies|gifts?)\b)",
    re.I,
)
# Words naming the kind of document asked about, not the topic ("the refund policy for returns" is about
# refunds and returns); dropped from the focus the answer sentences are matched against. Not inside paths
# such as debian/rules, and "manual page" is a topic.
_DOC_KIND_RE = re.compile(
    r"(?<![/\w-])(polic(y|ies)|rules?|procedures?|handbook|guidelines?|documentation|manual(?!\s+pages?))(?![/\w-])",
    re.I,
)
# "How many days ...?" asks for a duration: an answer that states none does not answer it.
_DURATION_Q_RE = re.compile(
    r"\b(how many|within how many|number of)\s+(\w+\s+)?(seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b|"
    r"\bhow long\s+(do|does|did|will|would|until|before|after)\b",
    re.I,
)
_DURATION_RE = re.compile(
    r"\b(seconds?|minutes?|hours?|days?|weeks?|fortnights?|months?|quarters?|years?|daily|weekly|monthly|"
    r"yearly|annual(ly)?|overnight|mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|saturdays?|sundays?)\b",
    re.I,
)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "why",
        "when",
        "where",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "i",
        "you",
        "we",
        "they",
        "he",
        "she",
        "me",
        "my",
        "your",
        "our",
        "their",
        "with",
        "about",
        "from",
        "by",
        "as",
        "at",
        "into",
        "than",
        "then",
        "so",
        "if",
        "not",
        "no",
        "yes",
        "please",
        "tell",
        "explain",
        "say",
        "says",
        "said",
        "there",
        "any",
        "some",
        "all",
        "more",
        "most",
        "much",
        "many",
        "also",
        "just",
    ]
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9][a-z0-9'\-]*", text.lower())


def stem(w: str) -> str:
    """A light suffix stripper so 'installed', 'installing' and 'install' compare equal."""
    if w.endswith("'s"):
        w = w[:-2]
    for suf, keep in (("ing", 3), ("ed", 3), ("s", 3)):
        if w.endswith(suf) and len(w) - len(suf) >= keep and not w.endswith("ss"):
            return w[: -len(suf)]
    return w


def content_words(text: str) -> set[str]:
    return {stem(w) for w in words(text) if w not in _STOP and len(w) > 1}


def normalize_isbn(raw: str) -> str:
    return re.sub(r"[-\s]", "", raw).upper()


def _isbn10_ok(s: str) -> bool:
    if not re.fullmatch(r"\d{9}[\dX]", s):
        return False
    total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(s))
    return total % 11 == 0


def _isbn13_ok(s: str) -> bool:
    if not re.fullmatch(r"97[89]\d{10}", s):
        return False
    total = sum((1 if i % 2 == 0 else 3) * int(c) for i, c in enumerate(s))
    return total % 10 == 0


def find_isbns(text: str) -> list[str]:
    """ISBN-10/13 mentioned in the text (checksums verified; also bare 10-char catalog keys)."""
    out: list[str] = []
    for m in _ISBN_RE.finditer(text):
        s = normalize_isbn(m.group(1))
        ok = (len(s) == 10 and (_isbn10_ok(s) or re.fullmatch(r"\d{9}[\dX]", s))) or (
            len(s) == 13 and _isbn13_ok(s)
        )
        if ok and s not in out:
            out.append(s)
    return out


def find_quantity(text: str) -> int | None:
    m = _QTY_RE.search(text)
    if not m:
        m2 = re.search(r"\b(?:quantity|qty)\s*[:=]?\s*(\d{1,3})\b|\b(\d{1,3})\s*x\b", text, re.I)
        if m2:
            return int(m2.group(1) or m2.group(2))
        return None
    raw = m.group(1).lower()
    if raw.isdigit():
        return int(raw)
    raw = raw.replace("a couple of", "couple").replace("a pair of", "pair")
    return _NUM_WORDS.get(raw)


def find_order_id(text: str) -> str | None:
    m = _UUID_RE.search(text)
    if m:
        return m.group(0)
    m = _ORDER_ID_RE.search(text)
    if m and any(c.isdigit() for c in m.group(1)):
        return m.group(1)
    return None


def is_injection(text: str) -> bool:
    return bool(_INJECTION_RE.search(text))


def confirmation(text: str) -> Literal["yes", "no", "other"]:
    """Classify the user's reply to a quote. Only a short, explicit yes counts."""
    t = text.strip()
    if _NO_RE.match(t):
        return "no"
    if len(t) <= 60 and _YES_RE.match(t) and not is_injection(t):
        return "yes"
    return "other"


def ordinal_index(text: str) -> int | None:
    m = _ORDINAL_RE.search(text)
    if not m:
        return None
    if m.group(3):
        return int(m.group(3)) - 1
    return _ORDINALS[m.group(1).lower()]


def is_followup(text: str, memo: dict[str, Any]) -> bool:
    """A message that only makes sense with the previous turn."""
    if not memo.get("last_query"):
        return False
    n = len(words(text))
    if _FOLLOWUP_START.match(text) and n <= 10:
        return True
    if ordinal_index(text) is not None and memo.get("last_items"):
        return True
    return bool(n <= 7 and _PRONOUN_RE.search(text))


_TAIL_OBJECT = re.compile(r"\b(on|for|in|with|about|of|via|at|to|by)\s+([^?.!]+?)\s*([?.!]*)$", re.I)
_SPAN_SPLIT = re.compile(r"[^A-Za-z0-9/'._-]+")


def followup_body(text: str) -> str:
    body = _FOLLOWUP_START.sub("", text.strip()).strip(" ?.!,")
    body = re.sub(
        r"^(and\s+)?(what about|how about|for|about|the same for|with)\s+", "", body, flags=re.I
    ).strip()
    return body


def rewrite_followup(text: str, memo: dict[str, Any]) -> str:
    """A standalone query from a follow-up ("what about for Discord?"): the new topic replaces the
    previous question's topic (its trailing prepositional object, else its longest content span)."""
    prev = str(memo.get("last_query") or "").strip()
    body = followup_body(text)
    if not body or not prev:
        return prev or text
    if not _FOLLOWUP_START.match(text) or len(words(body)) > 5:
        return f"{body} {prev}".strip()
    m = _TAIL_OBJECT.search(prev)
    if m and 1 <= len(words(m.group(2))) <= 4:
        return prev[: m.start(2)] + body + (m.group(3) or "?")
    spans: list[tuple[int, int]] = []
    start = None
    tokens = list(re.finditer(r"[A-Za-z0-9/'._-]+", prev))
    for i, tok in enumerate(tokens):
        is_content = tok.group(0).lower() not in _STOP
        if is_content and start is None:
            start = i
        if (not is_content or i == len(tokens) - 1) and start is not None:
            end = i if is_content else i - 1
            spans.append((start, end))
            start = None
    if not spans:
        return f"{body} {prev}".strip()
    s0, s1 = max(spans, key=lambda se: (se[1] - se[0], se[0]))
    return prev[: tokens[s0].start()] + body + prev[tokens[s1].end() :]


def asks_store_help(text: str) -> bool:
    """The message asks how returns, refunds or exchanges work (store help documents)."""
    return bool(_STORE_HELP_RE.search(text))


_ORDER_FILLER = frozenset(
    ["order", "buy", "purchase", "want", "take", "like", "get", "i'll", "i'd", "i'm", "let", "go", "now"]
    + ["copy", "copie", "book", "one", "ones", "item", "thank", "thanks", "ok", "okay", "too", "well"]
)


def names_no_book(text: str) -> bool:
    """A buying message with nothing that could name a book ("order it", "I'll take one")."""
    rest = content_words(text) - _ORDER_FILLER - set(_NUM_WORDS)
    return not {w for w in rest if not w.isdigit()}


def topic_focus(text: str) -> str:
    """``text`` without words naming the kind of document (policy, rules, handbook...), if any remain."""
    stripped = " ".join(_DOC_KIND_RE.sub(" ", text).split())
    return stripped if content_words(stripped) else text


def asks_duration(text: str) -> bool:
    """The question asks how many days (hours, weeks...) something takes or lasts."""
    return bool(_DURATION_Q_RE.search(text))


def states_duration(text: str) -> bool:
    return bool(_DURATION_RE.search(text))


def asks_internal(text: str) -> bool:
    """The message targets internal/staff-only material."""
    return bool(_INTERNAL_RE.search(text))
