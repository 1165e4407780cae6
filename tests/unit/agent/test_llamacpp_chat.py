"""LocalChat (the llamacpp policy's transport) over a fake ``llama_cpp.Llama``: no model needed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

from agent.policy.llamacpp import LocalChat
from agent.policy.openai import ROUTE_SCHEMA


class FakeLlama:
    """Streams ``text`` one character per ``delay`` seconds, like create_chat_completion(stream=True)."""

    def __init__(self, text: str, delay: float = 0.0) -> None:
        self.text = text
        self.delay = delay
        self.calls: list[dict[str, Any]] = []
        self.produced = 0
        self.closed = threading.Event()

    def create_chat_completion(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.calls.append(kwargs)
        assert kwargs["stream"] is True

        def gen() -> Iterator[dict[str, Any]]:
            try:
                yield {"choices": [{"delta": {"role": "assistant"}}]}
                for ch in self.text:
                    time.sleep(self.delay)
                    self.produced += 1
                    yield {"choices": [{"delta": {"content": ch}}]}
            finally:
                self.closed.set()

        return gen()


async def test_bind_translates_json_schema_and_keeps_defaults() -> None:
    llama = FakeLlama('{"intent": "docs", "query": "q"}')
    rf = {"type": "json_schema", "json_schema": {"name": "route", "schema": ROUTE_SCHEMA, "strict": True}}
    out = await LocalChat(llama).bind(response_format=rf).ainvoke([("system", "s"), ("user", "u")])
    assert out.content == '{"intent": "docs", "query": "q"}'
    call = llama.calls[0]
    assert call["response_format"] == {"type": "json_object", "schema": ROUTE_SCHEMA}
    assert call["messages"] == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert call["temperature"] == 0 and call["max_tokens"] == 400
    # a bound max_tokens overrides the default instead of clashing with it
    await LocalChat(llama).bind(max_tokens=16).ainvoke([("user", "u")])
    assert llama.calls[1]["max_tokens"] == 16


async def test_timeout_stops_the_generation_and_frees_the_model() -> None:
    llama = FakeLlama("x" * 1000, delay=0.01)  # ~10 s if left running
    chat = LocalChat(llama)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(chat.ainvoke([("user", "write a lot")]), 0.2)
    except TimeoutError:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected a timeout")
    assert await asyncio.to_thread(llama.closed.wait, 2.0)
    assert llama.produced < 1000 and time.monotonic() - t0 < 3.0
    assert chat.lock.acquire(timeout=1.0)  # the next turn gets the model right away
    chat.lock.release()
