"""The agent graph: a policy decides each step of a turn.

Steps (canonical names, in the order taken, reported in ``state["steps"]``):
``expand, hyde, retrieve, rerank, catalog, order, confirm, answer, clarify, refuse``.

Docs:      understand -> [expand] -> [hyde] -> retrieve -> [rerank] -> answer -> finish
Catalog:   understand -> catalog -> answer -> finish
Order:     understand -> catalog -> order (quote) -> confirm -> wait (interrupt) ... next turn:
           wait (resume with the user's message) -> order placed only on an explicit yes -> answer
Status:    understand -> order -> answer;   smalltalk: understand -> answer
Exports ``builder`` (uncompiled) and ``graph`` (compiled without a checkpointer: LangGraph servers supply
theirs; ChatService compiles ``builder`` with the PostgreSQL saver).
"""

from __future__ import annotations

import contextlib
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent import shop
from agent.context import AgentContext, principal_of, resources
from agent.policy import get_policy
from agent.policy.base import SMALLTALK_REPLIES
from agent.prompts import CLARIFY, REFUSALS
from agent.state import MAX_HISTORY, TURN_RESET, AgentState

__all__ = ["builder", "graph", "build_graph", "policy_for"]


def _ctx(runtime: Runtime[AgentContext] | None) -> AgentContext:
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        return AgentContext()
    if isinstance(ctx, dict):
        return AgentContext(**{k: v for k, v in ctx.items() if k in AgentContext.__dataclass_fields__})
    return ctx


async def policy_for(runtime: Runtime[AgentContext] | None) -> Any:
    deps = await resources()
    ctx = _ctx(runtime)
    return get_policy(ctx.policy or deps.settings.llm, deps.settings, deps.embedder)


def _steps(state: AgentState, *names: str) -> list[str]:
    return [*(state.get("steps") or []), *names]


def _emit(runtime: Runtime[AgentContext] | None, event: dict[str, Any]) -> None:
    writer = getattr(runtime, "stream_writer", None)
    if writer is not None:
        with contextlib.suppress(Exception):  # streaming is best effort
            writer(event)


# ---------------------------------------------------------------------------------------------- nodes
async def begin(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Start a turn: reset per-turn fields, remember the user's message, drop a stale quote."""
    message = str(state.get("message") or "").strip()
    messages = [*(state.get("messages") or []), {"role": "user", "content": message}][-MAX_HISTORY:]
    return {
        **TURN_RESET,
        "message": message,
        "messages": messages,
        "quote": None,
        "memo": state.get("memo") or {},
    }


async def understand(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Ask the policy for the route of this turn (intent, standalone query, entities, skips)."""
    policy = await policy_for(runtime)
    principal = principal_of(_ctx(runtime))
    route = await policy.route(
        state.get("message") or "",
        state.get("memo") or {},
        principal,
        history=(state.get("messages") or [])[:-1],
    )
    ctx = _ctx(runtime)
    if ctx.expand is not None and route.get("intent") == "docs":
        route["expand"] = bool(ctx.expand)
    notices = list(state.get("notices") or [])
    if route.get("notice"):
        notices.append(route["notice"])
    update: dict[str, Any] = {
        "route": route,
        "notices": notices,
        "policy": route.get("policy", policy.name),
        "model": route.get("model", policy.model),
    }
    if ctx.cache and route.get("intent") == "docs" and not route.get("followup"):
        from agent import caching

        cached = await caching.lookup(route["query"], principal)
        if cached is not None:
            update["cache"] = cached["meta"]
            if cached["meta"].get("hit"):
                reply = cached["reply"]
                update.update(
                    answer=reply.get("answer", ""),
                    citations=reply.get("citations", []),
                    steps=_steps(state, "answer"),
                )
    return update


def after_understand(state: AgentState) -> str:
    route = state.get("route") or {}
    if (state.get("cache") or {}).get("hit"):
        return "finish"
    intent = route.get("intent")
    if intent == "docs":
        return "expand" if route.get("expand") else ("hyde" if route.get("hyde") else "retrieve")
    if intent == "catalog":
        return "catalog"
    if intent == "order":
        return "order" if route.get("action") == "checkout" else "catalog"
    if intent == "status":
        return "order"
    if intent == "smalltalk":
        return "answer"
    if intent == "refuse":
        return "refuse"
    return "clarify"


async def expand(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Multi-query expansion (short or ambiguous queries only)."""
    from tools import expand as expand_tool

    policy = await policy_for(runtime)
    query = state["route"]["query"]
    queries = [query]
    try:
        for q in await expand_tool.expand_query(
            query, n=3, llm=policy.llm, principal=principal_of(_ctx(runtime))
        ):
            if q and q not in queries:
                queries.append(q)
    except Exception as exc:  # noqa: BLE001 - expansion is an optimisation
        return {
            "queries": queries,
            "steps": _steps(state, "expand"),
            "notices": [*state.get("notices", []), f"expansion skipped: {exc}"],
        }
    return {"queries": queries, "steps": _steps(state, "expand")}


def after_expand(state: AgentState) -> str:
    return "hyde" if (state.get("route") or {}).get("hyde") else "retrieve"


async def hyde(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Hypothetical answer passage for dense retrieval (generative policies only)."""
    from tools import expand as expand_tool

    policy = await policy_for(runtime)
    try:
        text = await expand_tool.hyde(
            state["route"]["query"], llm=policy.llm, principal=principal_of(_ctx(runtime))
        )
    except Exception:  # noqa: BLE001
        text = None
    return {"hyde_text": text, "steps": _steps(state, "hyde")}


async def retrieve(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Hybrid retrieval filtered by the principal's ACL scopes inside the index query."""
    from tools import knowledge, rerank

    ctx = _ctx(runtime)
    route = state["route"]
    queries = state.get("queries") or [route["query"]]
    hits = await knowledge.retrieve(
        queries, ctx.retrieve_k, principal=principal_of(ctx), hyde_text=state.get("hyde_text")
    )
    decisive = bool(hits) and rerank.decisive(hits)
    if decisive or not hits:
        hits = hits[: ctx.k]
    return {
        "hits": [shop.hit_dict(h) for h in hits],
        "route": {**route, "rerank": bool(hits) and not decisive},
        "steps": _steps(state, "retrieve"),
    }


def after_retrieve(state: AgentState) -> str:
    return "rerank" if (state.get("route") or {}).get("rerank") else "answer"


async def rerank_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Rerank candidates when the top hits are not decisive."""
    from tools import rerank

    ctx = _ctx(runtime)
    hits = await rerank.rerank(state["route"]["query"], [shop.to_hit(h) for h in state["hits"]], ctx.k)
    return {"hits": [shop.hit_dict(h) for h in hits], "steps": _steps(state, "rerank")}


async def answer(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Compose the reply: grounded docs answer, catalog listing, order text or smalltalk."""
    route = state.get("route") or {}
    intent = route.get("intent")
    update: dict[str, Any] = {"steps": _steps(state, "answer")}
    if intent == "docs":
        policy = await policy_for(runtime)
        ctx = _ctx(runtime)
        hits = (state.get("hits") or [])[: ctx.k]
        sentences = getattr(policy, "sentences", None) or getattr(
            getattr(policy, "offline", None), "sentences", None
        )
        if sentences is not None and hits:  # precomputed sentence vectors, off the event loop
            await sentences.prefetch((await resources()).db, hits)
        composed = await policy.compose(
            route["query"],
            route.get("focus") or route["query"],
            hits,
            writer=lambda e: _emit(runtime, e),
        )
        update.update(
            answer=composed.answer,
            citations=composed.citations,
            flagged=composed.flagged,
            relevance=round(float(composed.relevance), 4),
        )
        notice = getattr(composed, "notice", None)
        if notice:
            update["notices"] = [*(state.get("notices") or []), notice]
        if getattr(composed, "model", None):
            update["model"] = composed.model
        if getattr(composed, "policy", None):
            update["policy"] = composed.policy
        return update
    if intent == "smalltalk":
        text = state.get("message", "").lower()
        key = (
            "thanks"
            if "thank" in text or "cheers" in text
            else (
                "bye"
                if "bye" in text or "see you" in text
                else ("who" if "who" in text or "what can" in text else "greet")
            )
        )
        update["answer"] = SMALLTALK_REPLIES[key]
    _emit(runtime, {"type": "token", "text": update.get("answer") or state.get("answer", "")})
    return update


async def clarify(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Ask the user what they mean instead of guessing."""
    reason = (state.get("route") or {}).get("reason", "")
    text = (
        state.get("answer")
        if reason == "ambiguous" and state.get("answer")
        else CLARIFY.get(reason, CLARIFY[""])
    )
    return {"answer": text, "steps": _steps(state, "clarify")}


async def refuse(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Decline: injections, internal material for outsiders, off-topic requests."""
    reason = (state.get("route") or {}).get("reason", "")
    return {"answer": REFUSALS.get(reason, REFUSALS[""]), "steps": _steps(state, "refuse"), "hits": []}


async def finish(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Remember the turn: assistant message and the memo follow-ups are resolved from."""
    route = state.get("route") or {}
    memo = dict(state.get("memo") or {})
    intent = route.get("intent")
    if intent in ("docs", "catalog"):
        memo["last_intent"], memo["last_query"] = intent, route.get("query")
    items = state.get("items") or []
    if items:
        memo["last_items"] = [b["isbn"] for b in items][:10]
        if len(items) == 1:
            memo["focus_isbn"] = items[0]["isbn"]
    quote = state.get("quote") or {}
    if quote:
        memo["focus_isbn"] = (quote.get("items") or [{}])[0].get("isbn", memo.get("focus_isbn"))
    order = state.get("order") or {}
    if order:
        memo["last_order_id"] = order.get("id")
    messages = [
        *(state.get("messages") or []),
        {"role": "assistant", "content": (state.get("answer") or "")[:600]},
    ]
    update: dict[str, Any] = {"memo": memo, "messages": messages[-MAX_HISTORY:]}
    cache = state.get("cache") or {}
    if cache.get("cacheable") and not cache.get("hit") and intent == "docs" and state.get("citations"):
        from agent import caching

        entry = await caching.store(route["query"], principal_of(_ctx(runtime)), dict(state))
        if entry:
            update["cache"] = {**cache, "entry_id": entry}
    return update


# ---------------------------------------------------------------------------------------------- wiring
def build_graph() -> Any:
    b = StateGraph(AgentState, context_schema=AgentContext)
    b.add_node("begin", begin)
    b.add_node("understand", understand)
    b.add_node("expand", expand)
    b.add_node("hyde", hyde)
    b.add_node("retrieve", retrieve)
    b.add_node("rerank", rerank_node)
    b.add_node("answer", answer)
    b.add_node("catalog", shop.catalog)
    b.add_node("order", shop.order)
    b.add_node("confirm", shop.confirm)
    b.add_node("wait", shop.wait)  # the interrupt: resumed only with the user's next message
    b.add_node("clarify", clarify)
    b.add_node("refuse", refuse)
    b.add_node("finish", finish)
    b.add_edge(START, "begin")
    b.add_edge("begin", "understand")
    b.add_conditional_edges(
        "understand",
        after_understand,
        ["expand", "hyde", "retrieve", "catalog", "order", "answer", "clarify", "refuse", "finish"],
    )
    b.add_conditional_edges("expand", after_expand, ["hyde", "retrieve"])
    b.add_edge("hyde", "retrieve")
    b.add_conditional_edges("retrieve", after_retrieve, ["rerank", "answer"])
    b.add_edge("rerank", "answer")
    b.add_conditional_edges("catalog", shop.after_catalog, ["order", "answer", "clarify"])
    b.add_conditional_edges("order", shop.after_order, ["confirm", "answer", "clarify"])
    b.add_conditional_edges("confirm", shop.after_confirm, ["wait", "answer"])
    # wait routes itself with Command(goto=...) to answer / understand / finish
    b.add_edge("answer", "finish")
    b.add_edge("clarify", "finish")
    b.add_edge("refuse", "finish")
    b.add_edge("finish", END)
    return b


builder = build_graph()
graph = builder.compile()
graph.name = "libromind-agent"
