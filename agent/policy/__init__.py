"""Policies decide each step of a turn. ``LIBROMIND_LLM`` picks one: offline | openai | llamacpp."""

from __future__ import annotations

from typing import Any

from agent.policy.base import Policy, Route

__all__ = ["Policy", "Route", "get_policy", "reset_policies", "use_policy"]

_cache: dict[str, Any] = {}


def get_policy(name: str, settings: Any, embedder: Any) -> Any:
    """The process-wide policy for ``name`` (built lazily; optional extras imported only here)."""
    key = f"{name}:{id(embedder)}"
    if key in _cache:
        return _cache[key]
    from agent.policy.offline import OfflinePolicy

    offline = _cache.get(f"offline:{id(embedder)}") or OfflinePolicy(embedder)
    _cache[f"offline:{id(embedder)}"] = offline
    if name == "offline":
        return offline
    if name == "openai":
        from agent.policy.openai import OpenAIPolicy

        policy: Any = OpenAIPolicy.from_settings(settings, offline)
    elif name == "llamacpp":
        from agent.policy.llamacpp import LlamaCppPolicy

        policy = LlamaCppPolicy.from_settings(settings, offline)
    else:
        raise ValueError(f"Unknown policy {name!r}: use offline, openai or llamacpp.")
    _cache[key] = policy
    return policy


def use_policy(name: str, embedder: Any, policy: Any) -> None:
    """Serve ``name`` with an already built ``policy`` for this embedder (a model loaded once, shared)."""
    _cache[f"{name}:{id(embedder)}"] = policy


def reset_policies() -> None:
    _cache.clear()
