"""The llamacpp policy: an in-process GGUF model through llama-cpp-python (extra ``llamacpp``).

The same decisions and grounded generation as the openai policy; only the transport differs (a local
``llama_cpp.Llama`` run in a worker thread, JSON constrained by the model's grammar support).
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass
from typing import Any

from agent.policy.offline import OfflinePolicy
from agent.policy.openai import OpenAIPolicy
from memory.settings import MissingExtra, require_extra

__all__ = ["LlamaCppPolicy", "LocalChat", "load_model"]


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

    def _run(self, messages: list[tuple[str, str]], cancel: threading.Event) -> _Msg:
        msgs = [{"role": r, "content": c} for r, c in messages]
        parts: list[str] = []
        with self.lock:
            if cancel.is_set():  # timed out while waiting for the model
                return _Msg("")
            # streamed, so a turn that timed out stops generating instead of holding the model (and
            # the CPU) for the rest of its tokens while the next turn waits on the lock
            params = {"temperature": 0, "max_tokens": 400, **self.kwargs, "stream": True}
            stream = self.llama.create_chat_completion(messages=msgs, **params)
            try:
                for chunk in stream:
                    if cancel.is_set():
                        break
                    parts.append(chunk["choices"][0].get("delta", {}).get("content") or "")
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        return _Msg("".join(parts))

    async def ainvoke(self, messages: list[tuple[str, str]]) -> _Msg:
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self._run, messages, cancel)
        except asyncio.CancelledError:  # e.g. the policy's asyncio.wait_for timeout
            cancel.set()
            raise


def load_model(path: str | os.PathLike[str], *, n_ctx: int = 4096) -> Any:
    """Load a GGUF file into a ``llama_cpp.Llama`` (one per process is plenty: it is shared by turns)."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingExtra("llama_cpp", "llamacpp") from exc
    return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, verbose=False)


class LlamaCppPolicy(OpenAIPolicy):
    name = "llamacpp"

    @classmethod
    def from_llama(
        cls, llama: Any, offline: OfflinePolicy, *, model: str, timeout: float = 120.0
    ) -> LlamaCppPolicy:
        """A policy over an already loaded model (no retries: a local model does not flake)."""
        return cls(
            LocalChat(llama), offline, model=model, timeout=timeout, retries=0, structured="json_schema"
        )

    @classmethod
    def from_settings(cls, settings: Any, offline: OfflinePolicy) -> LlamaCppPolicy:  # type: ignore[override]
        require_extra("llama_cpp", "llamacpp")
        path = settings.llamacpp_model_path
        if path is None or not path.exists():
            raise ValueError(
                "LIBROMIND_LLM=llamacpp needs LIBROMIND_LLAMACPP_MODEL_PATH pointing at a GGUF file "
                "(python scripts/llm/fetch_model.py qwen2.5-coder-0.5b prints one)."
            )
        return cls.from_llama(
            load_model(path), offline, model=path.name, timeout=max(settings.openai_timeout, 120.0)
        )
