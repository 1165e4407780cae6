"""The openai policy: any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, OpenAI).

Decisions come back as JSON constrained by a JSON schema (``response_format``); answers are generated
with numbered citations and pass the grounding check. Every call has a timeout and retries with
backoff; when the endpoint keeps failing the turn falls back to the offline policy with a visible
notice, and a short circuit breaker stops waiting on a dead endpoint for the next turns.
Rules shared with the offline policy still apply (injection refusal, entity resolution, ACL refusal,
confirmation of orders by an explicit yes only).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from agent.answer import Composed, check_grounding
from agent.policy import rules
from agent.policy.base import Route
from agent.policy.offline import OfflinePolicy
from agent.prompts import ANSWER_SYSTEM, ROUTER_SYSTEM, answer_prompt, router_prompt
from memory.principals import Principal
from memory.settings import require_extra

__all__ = ["OpenAIPolicy", "ROUTE_SCHEMA", "EndpointDown", "FALLBACK_NOTICE", "GROUNDING_NOTICE"]

log = logging.getLogger(__name__)

ROUTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {
            "type": "string",
            "enum": ["docs", "catalog", "order", "status", "smalltalk", "clarify", "offtopic"],
        },
        "query": {"type": "string"},
    },
    "required": ["intent", "query"],
    "additionalProperties": False,
}
_INTENTS = set(ROUTE_SCHEMA["properties"]["intent"]["enum"])
FALLBACK_NOTICE = "The language model endpoint did not answer; this reply comes from the offline policy."
GROUNDING_NOTICE = "The generated answer was not supported by the sources; showing the cited passages."


class EndpointDown(RuntimeError):
    """The chat endpoint failed after retries (or the circuit breaker is open)."""


class OpenAIPolicy:
    name = "openai"

    def __init__(
        self,
        chat: Any,
        offline: OfflinePolicy,
        *,
        model: str,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        structured: str = "json_schema",
        breaker_s: float = 30.0,
    ) -> None:
        self.chat = chat
        self.offline = offline
        self.model = model
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.structured = structured  # json_schema | json_object | none
        self.breaker_s = breaker_s
        self._down_until = 0.0
        self.llm = self.complete  # for tools.expand (multi-query, HyDE)

    @classmethod
    def from_settings(cls, settings: Any, offline: OfflinePolicy) -> OpenAIPolicy:
        require_extra("langchain_openai", "llm")
        from langchain_openai import ChatOpenAI

        if not settings.openai_base_url and settings.openai_api_key is None:
            raise ValueError(
                "LIBROMIND_LLM=openai needs LIBROMIND_OPENAI_BASE_URL (or LIBROMIND_OPENAI_API_KEY "
                "for api.openai.com)."
            )
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "sk-local"
        chat = ChatOpenAI(  # type: ignore[call-arg]
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            api_key=SecretStr(key),
            temperature=0,
            max_retries=0,
            timeout=settings.openai_timeout,
            max_tokens=400,
        )
        import os

        structured = os.environ.get("LIBROMIND_OPENAI_STRUCTURED", "json_schema")
        return cls(
            chat, offline, model=settings.openai_model, timeout=settings.openai_timeout, structured=structured
        )

    # -- transport ------------------------------------------------------------------------------
    async def _invoke(self, messages: list[tuple[str, str]], **kwargs: Any) -> str:
        if time.monotonic() < self._down_until:
            raise EndpointDown("endpoint marked down (circuit breaker)")
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                chat = self.chat.bind(**kwargs) if kwargs else self.chat
                msg = await asyncio.wait_for(chat.ainvoke(messages), self.timeout)
                self._down_until = 0.0
                return str(msg.content or "")
            except Exception as exc:  # noqa: BLE001 - any transport/server error is retried
                last = exc
                if _is_client_error(exc) or _is_format_error(exc):
                    raise
                if attempt < self.retries:
                    await asyncio.sleep(self.backoff * (2**attempt))
        self._down_until = time.monotonic() + self.breaker_s
        raise EndpointDown(f"{type(last).__name__}: {last}") from last

    async def complete(self, prompt: str) -> str:
        """Plain completion (used by query expansion and HyDE)."""
        return await self._invoke([("user", prompt)])

    async def _json(self, system: str, user: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.structured == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "route", "schema": ROUTE_SCHEMA, "strict": True},
            }
        elif self.structured == "json_object":
            kwargs["response_format"] = {"type": "json_object", "schema": ROUTE_SCHEMA}
        try:
            text = await self._invoke([("system", system), ("user", user)], **kwargs)
        except Exception as exc:
            if self.structured == "json_schema" and (_is_client_error(exc) or _is_format_error(exc)):
                self.structured = "json_object"  # servers without json_schema support
                return await self._json(system, user)
            raise
        m = re.search(r"\{.*\}", text, re.S)
        if not m:
            raise ValueError(f"no JSON in model output: {text[:200]!r}")
        return json.loads(m.group(0))

    # -- policy ---------------------------------------------------------------------------------
    async def route(
        self,
        message: str,
        memo: dict[str, Any],
        principal: Principal,
        *,
        history: list[dict[str, str]] | None = None,
    ) -> Route:
        base = await self.offline.route(message, memo, principal)
        # rules first: injections, buying / order-status wording and greetings are not the model's call
        if (base["intent"] == "refuse" and base.get("reason") == "injection") or base.get("ruled"):
            return {**base, "policy": self.name, "model": self.model}
        try:
            out = await self._json(ROUTER_SYSTEM, router_prompt(message, history or []))
            intent = str(out.get("intent", "")).strip().lower()
            if intent not in _INTENTS:
                raise ValueError(f"unknown intent {intent!r}")
        except Exception as exc:  # noqa: BLE001
            log.warning("openai routing failed (%s); offline fallback", exc)
            return {**base, "notice": FALLBACK_NOTICE, "policy": "offline", "model": None}
        r = dict(base)
        r["followup"] = bool(history) and base.get("followup", False)
        query = " ".join(str(out.get("query") or "").split())
        r["confidence"] = 1.0
        r = OfflinePolicy.finish(r, intent, memo, principal)
        if query and r["intent"] in ("docs", "catalog") and history:
            r["query"] = query
            r["focus"] = query
        if r["intent"] == "docs":
            r["hyde"] = len(rules.content_words(r["query"])) >= 5 and not r.get("expand")
        r["policy"], r["model"] = self.name, self.model
        return r

    async def compose(
        self,
        question: str,
        focus: str,
        hits: list[dict[str, Any]],
        *,
        writer: Callable[[dict], None] | None = None,
    ) -> Composed:
        if not hits:
            return await self.offline.compose(question, focus, hits, writer=writer)
        relevance = await asyncio.to_thread(self.offline.extract, question, focus, hits)
        if not relevance.citations:  # nothing relevant: do not let the model improvise
            if writer is not None:
                writer({"type": "token", "text": relevance.answer})
            return relevance
        try:
            text = await self._invoke([("system", ANSWER_SYSTEM), ("user", answer_prompt(question, hits))])
        except Exception as exc:  # noqa: BLE001
            log.warning("openai answer failed (%s); extractive fallback", exc)
            composed = await self.offline.compose(question, focus, hits, writer=writer)
            composed.notice = FALLBACK_NOTICE
            composed.policy = "offline"
            return composed
        checked = await asyncio.to_thread(check_grounding, text, hits, self.offline.sentences)
        if "don't know" in text.lower() or not checked.grounded:
            relevance.flagged = checked.flagged
            relevance.notice = GROUNDING_NOTICE
            out = relevance
        else:
            out = checked
            out.relevance = relevance.relevance
        if writer is not None:
            writer({"type": "token", "text": out.answer})
        out.model = self.model
        return out


def _is_format_error(exc: Exception) -> bool:
    """The server rejected ``response_format`` (some report it as a 500, e.g. llama-cpp-python)."""
    text = str(exc)
    return "response_format" in text or "json_schema" in text


def _is_client_error(exc: Exception) -> bool:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)
