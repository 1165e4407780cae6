"""Per-run knobs (LangGraph runtime context) and lazy access to the process resources.

The context carries who is asking and how (principal, capabilities, channel, policy); it is passed to
every run by ChatService (or by a LangGraph server client) and is never stored in graph state.
``capabilities`` are what the caller's credential allows (``orders``): a principal acting for itself
(web, Slack, Discord) has them all; an MCP token only its scopes (taken from a
:class:`~memory.principals.ScopedPrincipal` when not given). Resources (database,
embedder, index) are clients: nodes reach them through :func:`resources`, never through state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from memory.principals import ANONYMOUS, Principal, ScopedPrincipal
from tools.deps import Deps, NotConfigured, current, use

__all__ = ["AgentContext", "resources", "principal_of", "allows"]


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
    # what the caller's credential allows (e.g. {"orders"}); None: every capability of the principal
    capabilities: Iterable[str] | None = None

    def __post_init__(self) -> None:
        caps = self.capabilities
        if caps is None and isinstance(self.principal, ScopedPrincipal):
            caps = self.principal.token_scopes
        self.capabilities = None if caps is None else frozenset(str(c) for c in caps)


def principal_of(ctx: AgentContext | dict | None) -> Principal:
    if ctx is None:
        return ANONYMOUS
    value = ctx.get("principal") if isinstance(ctx, dict) else ctx.principal
    if isinstance(value, Principal):
        return value
    return Principal.parse(value) if value else ANONYMOUS


def allows(ctx: AgentContext | dict | None, capability: str) -> bool:
    """Whether the caller of this run may use ``capability``: both the context's capabilities (when
    set) and the principal (a scoped one only within its token) must allow it."""
    if ctx is None:
        return principal_of(ctx).allows(capability)
    caps = ctx.get("capabilities") if isinstance(ctx, dict) else ctx.capabilities
    if caps is not None and (isinstance(caps, str) or capability not in set(caps)):
        return False
    return principal_of(ctx).allows(capability)


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
