"""The llamacpp policy: an in-process GGUF model through llama-cpp-python (extra ``llamacpp``).

The same decisions and grounded generation as the openai policy; only the transport differs (a local
``llama_cpp.Llama`` run in a worker thread, JSON constrained by the model's grammar support).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from agent.policy.offline import OfflinePolicy
from agent.policy.openai import OpenAIPolicy
from memory.settings import MissingExtra

__all__ = ["LlamaCppPolicy", "LocalChat"]


@dataclass
class _Msg:
    content: str


class LocalChat:
    """A minimal stand-in for a LangChain chat model over ``llama_cpp.Llama`` (bind + ainvoke)."""

    def __init__(
        self, llama: Any, kwargs: dict[str, Any] | None = None, lock: threading.Lock | None = None
    ) -> None:
        self.llama = llama
        self.kwargs = kwargs or {}
        self.lock = lock or threading.Lock()  # one generation at a time per model

    def bind(self, **kwargs: Any) -> LocalChat:
        rf = kwargs.get("response_format")
        if (
            rf and rf.get("type") == "json_schema"
        ):  # llama-cpp-python takes {"type":"json_object","schema":...}
            kwargs = {
                **kwargs,
                "response_format": {"type": "json_object", "schema": rf["json_schema"]["schema"]},
            }
        return LocalChat(self.llama, {**self.kwargs, **kwargs}, self.lock)

    def _run(self, messages: list[tuple[str, str]]) -> _Msg:
        msgs = [{"role": r, "content": c} for r, c in messages]
        with self.lock:
            out = self.llama.create_chat_completion(
                messages=msgs, temperature=0, max_tokens=400, **self.kwargs
            )
        return _Msg(out["choices"][0]["message"].get("content") or "")

    async def ainvoke(self, messages: list[tuple[str, str]]) -> _Msg:
        return await asyncio.to_thread(self._run, messages)


class LlamaCppPolicy(OpenAIPolicy):
    name = "llamacpp"

    @classmethod
    def from_settings(cls, settings: Any, offline: OfflinePolicy) -> LlamaCppPolicy:  # type: ignore[override]
        try:
            import llama_cpp
        except ImportError as exc:
            raise MissingExtra("llama_cpp", "llamacpp") from exc
        path = settings.llamacpp_model_path
        if path is None or not path.exists():
            raise ValueError(
                "LIBROMIND_LLM=llamacpp needs LIBROMIND_LLAMACPP_MODEL_PATH pointing at a GGUF file "
                "(python scripts/llm/fetch_model.py qwen2.5-coder-0.5b prints one)."
            )
        llama = llama_cpp.Llama(model_path=str(path), n_ctx=4096, verbose=False)
        return cls(
            LocalChat(llama),
            offline,
            model=path.name,
            timeout=max(settings.openai_timeout, 120.0),
            retries=0,
            structured="json_schema",
        )
