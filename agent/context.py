"""Per-run knobs (LangGraph runtime context) and lazy access to the process resources.

The context carries who is asking and how (principal, channel, policy); it is passed to every run by
ChatService (or by a LangGraph server client) and is never stored in graph state. Resources (database,
embedder, index) are clients: nodes reach them through :func:`resources`, never through state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from memory.principals import ANONYMOUS, Principal
from tools.deps import Deps, NotConfigured, current, use

__all__ = ["AgentContext", "resources", "principal_of"]


@dataclass
class AgentContext:
    """Runtime context of one turn (``graph.ainvoke(..., context=AgentContext(...))``)."""

    principal: Principal | str = str(ANONYMOUS)  # a Principal (keeps grants) or its string form
    channel: str = "api"
    policy: str | None = None  # offline | openai | llamacpp; default: settings.llm
    k: int = 5  # passages used for an answer
    retrieve_k: int = 12  # candidates fetched before reranking
    expand: bool | None = None  # force (True) or forbid (False) query expansion; None: policy decides
    cache: bool = True  # use the semantic cache (when one is installed) for plain docs questions


def principal_of(ctx: AgentContext | dict | None) -> Principal:
    if ctx is None:
        return ANONYMOUS
    value = ctx.get("principal") if isinstance(ctx, dict) else ctx.principal
    if isinstance(value, Principal):
        return value
    return Principal.parse(value) if value else ANONYMOUS


_lock = asyncio.Lock()


async def resources() -> Deps:
    """The installed Deps; when none (e.g. under ``langgraph dev``) build them from the environment."""
    try:
        return current()
    except NotConfigured:
        pass
    async with _lock:
        try:
            return current()
        except NotConfigured:
            from memory.settings import get_settings

            deps = await Deps.build(get_settings())
            use(deps)
            return deps
