"""The offline policy: no generative model. Embedding kNN over labelled exemplars + entity rules;
extractive grounded answers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from agent.answer import Composed, SentenceCache, dont_know, extractive
from agent.policy import rules
from agent.policy.base import Route, new_route
from agent.policy.exemplars import EXEMPLARS
from memory.principals import Principal

__all__ = ["OfflinePolicy", "Router"]

_SMALLTALK_RE = re.compile(
    r"^\s*(hi|hello|hey|hiya|good (morning|afternoon|evening)|thanks?( you)?( so much| a lot)?|thx|cheers|"
    r"bye|goodbye|see you|who are you|what can you do|how are you)\b[\s!.?,]*(there|again|today)?[\s!.?]*$",
    re.I,
)
_COMMERCE_RE = re.compile(
    r"\b(order|orders|ordered|cart|basket|buy|bought|purchase\w*|checkout|check out|shipp\w*|deliver\w*|"
    r"cancel\w*|copies|take it)\b",
    re.I,
)
_CATALOG_HINT = re.compile(
    r"\b(books?|novels?|authors?|wrote|written by|by [A-Z][a-z]+|recommend\w*|suggest\w*|similar to|also liked|"
    r"in stock|stock|price|cost|how much|catalog(ue)?|titles?|publish\w*|isbn)\b",
    re.I,
)


class Router:
    """Nearest-exemplar intent classification (mean of the top-3 cosine similarities per intent)."""

    def __init__(self, embedder: Any, vector: Any = None) -> None:
        self.embedder = embedder
        self.vector = vector or embedder.embed_one
        self._labels: list[str] = []
        self._vecs: np.ndarray | None = None

    def _ensure(self) -> None:
        if self._vecs is None:
            texts, labels = [], []
            for intent, examples in EXEMPLARS.items():
                texts += examples
                labels += [intent] * len(examples)
            self._vecs = self.embedder.embed(texts)
            self._labels = labels

    def scores(self, text: str) -> dict[str, float]:
        self._ensure()
        assert self._vecs is not None
        sims = self._vecs @ self.vector(text)
        out: dict[str, float] = {}
        for intent in EXEMPLARS:
            idx = [i for i, lab in enumerate(self._labels) if lab == intent]
            top = np.sort(sims[idx])[-3:]
            out[intent] = float(top.mean())
        return out


class OfflinePolicy:
    name = "offline"
    model: str | None = None
    llm = None

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.sentences = SentenceCache(embedder)
        self.router = Router(embedder, self.sentences.vector)

    # -- routing -------------------------------------------------------------------------------
    async def route(
        self,
        message: str,
        memo: dict[str, Any],
        principal: Principal,
        *,
        history: list[dict[str, str]] | None = None,
    ) -> Route:
        return await asyncio.to_thread(self.route_sync, message, memo, principal)

    def classify(self, text: str, exclude: tuple[str, ...] = ()) -> tuple[str, float, float]:
        """kNN intent, its score and the margin to the runner-up."""
        scores = {k: v for k, v in self.router.scores(text).items() if k not in exclude}
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        return ranked[0][0], ranked[0][1], ranked[0][1] - ranked[1][1]

    def route_sync(self, message: str, memo: dict[str, Any], principal: Principal) -> Route:
        text = " ".join(message.split())
        r = new_route(text)
        if not text:
            r["reason"] = "empty"
            return r
        r["isbns"] = rules.find_isbns(text)
        r["quantity"] = rules.find_quantity(text)
        r["order_id"] = rules.find_order_id(text)
        r["ordinal"] = rules.ordinal_index(text)
        if rules.is_injection(text):
            r.update(intent="refuse", reason="injection", confidence=1.0)
            return r
        followup = rules.is_followup(text, memo)
        r["followup"] = followup
        intent = self.rule_intent(text)
        r["ruled"] = intent is not None
        conf = 1.0
        if intent is None:
            if _SMALLTALK_RE.match(text):
                intent, r["ruled"] = "smalltalk", True
            else:
                intent, conf, margin = self.classify(text)
                if intent in ("order", "status") and not _COMMERCE_RE.search(text):
                    # buying / order status without commerce words is a kNN accident: take the next intent
                    intent, conf, margin = self.classify(text, exclude=("order", "status"))
                internal = rules.asks_internal(text)
                if (
                    intent in ("clarify", "smalltalk", "offtopic")
                    and _CATALOG_HINT.search(text)
                    and conf < 0.6
                    and not internal
                ):
                    intent = "catalog"
                if (
                    intent == "docs"
                    and _CATALOG_HINT.search(text)
                    and (r["isbns"] or margin < 0.03)
                    and not internal
                ):
                    intent = "catalog"
                if (
                    intent in ("catalog", "order", "status")
                    and not r["isbns"]
                    and rules.asks_store_help(text)
                ):
                    intent = "docs"  # how returns and refunds work: ask the documents, not the catalog

        r["confidence"] = round(conf, 3)
        return self.finish(r, intent, memo, principal)

    @staticmethod
    def rule_intent(text: str) -> str | None:
        if rules.CANCEL_RE.search(text) or rules.STATUS_RE.search(text):
            return "status"
        buy = rules.BUY_RE.search(text)
        # "a refund on my order" is not buying: a bare "order" next to returns wording is left to kNN
        if buy and not (buy.group(0).lower() == "order" and rules.asks_store_help(text)):
            return "order"
        if rules.CART_RE.search(text):
            return "status"
        return None

    @staticmethod
    def finish(r: Route, intent: str, memo: dict[str, Any], principal: Principal) -> Route:
        """Apply what every policy shares: follow-ups, entity resolution, ACL refusal, step flags."""
        text = r["query"]
        if r["followup"]:
            last = memo.get("last_intent")
            if (
                not r.get("ruled")
                and intent != "refuse"
                and last in ("docs", "catalog")
                and not (intent == "catalog" and r["isbns"] and rules.ordinal_index(text) is None)
            ):
                intent = last
            if intent == "docs":
                r["query"] = rules.rewrite_followup(text, memo)
                r["focus"] = rules.followup_body(text) or r["query"]
        items = list(memo.get("last_items") or [])
        if not r["isbns"] and r["ordinal"] is not None and items:
            i = r["ordinal"]
            if -len(items) <= i < len(items):
                r["isbns"] = [items[i]]
        pronoun = re.search(r"\b(it|this|that|this one|that one|this book|that book|them)\b", text, re.I)
        if (
            not r["isbns"]
            and intent in ("order", "catalog")
            and pronoun
            and not re.search(r"\b(cart|basket)\b", text, re.I)
        ):
            target = memo.get("focus_isbn") or (items[0] if len(items) == 1 else None)
            if target:
                r["isbns"] = [target]
        if intent == "status" and rules.CANCEL_RE.search(text):
            r["action"] = "cancel"
        elif intent == "status" and rules.CART_RE.search(text) and not rules.STATUS_RE.search(text):
            r["action"] = "cart"
        elif intent == "status":
            r["action"] = "status"
        elif intent == "order":
            add_only = re.search(r"\b(add|put)\b.*\b(cart|basket)\b", text, re.I)
            checkout = re.search(
                r"\b(check ?out|place (my|the) order|order (my|the) cart|buy (my|the) cart)\b", text, re.I
            )
            r["action"] = "add" if add_only else ("checkout" if checkout and not r["isbns"] else "quote")
            if r["action"] == "quote" and not r["isbns"] and rules.names_no_book(text):
                intent, r["reason"] = "clarify", "book"  # "order it" with nothing it could refer to
        if intent == "catalog" and not r["isbns"] and rules.asks_internal(text):
            intent = "docs"  # staff policies are documents, not books
        if intent == "docs" and rules.asks_internal(text) and "internal" not in principal.scopes:
            intent, r["reason"] = "refuse", "internal"
        if intent == "offtopic":
            intent, r["reason"] = "refuse", "offtopic"
        if intent == "docs":
            r["focus"] = rules.topic_focus(r["focus"])
            n = len(rules.content_words(r["query"]))
            r["expand"] = n <= 2 or bool(re.search(r"\b(this|that|it|stuff|things?)\b", r["focus"], re.I))
        r["intent"] = intent
        return r

    # -- answers -------------------------------------------------------------------------------
    def extract(self, question: str, focus: str, hits: list[dict[str, Any]]) -> Composed:
        """The extractive answer, or "I don't know" when its sentences cannot answer the question's
        type (a "how many days" question answered by sentences that state no duration)."""
        composed = extractive(question, focus, hits, self.sentences)
        if (
            composed.citations
            and rules.asks_duration(question)
            and not rules.states_duration(composed.answer)
        ):
            out = dont_know(question)
            out.relevance = composed.relevance
            return out
        return composed

    async def compose(
        self,
        question: str,
        focus: str,
        hits: list[dict[str, Any]],
        *,
        writer: Callable[[dict], None] | None = None,
    ) -> Composed:
        composed = await asyncio.to_thread(self.extract, question, focus, hits)
        if writer is not None:
            for part in re.split(r"(?<=\]) ", composed.answer):
                writer({"type": "token", "text": part + " "})
        return composed
