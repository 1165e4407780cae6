"""The openai policy against a real small GGUF model served by llama_cpp.server (OpenAI-compatible).

Needs llama-cpp-python[server] and the pinned Qwen2.5-Coder 0.5B GGUF (scripts/llm/fetch_model.py, cached in
$LIBROMIND_MODELS_DIR or ~/.cache/libromind/models). Fails, never skips, when they are missing.
"""

from __future__ import annotations

import os

import pytest

from agent.policy import reset_policies
from agent.service import ChatService
from libromind.bootstrap import INTERNAL_DOCS
from tests.integration.llm_server import fetch_test_model, llama_server

pytestmark = pytest.mark.llm
MODEL = os.environ.get("LIBROMIND_TEST_LLM", "qwen2.5-coder-0.5b")


async def test_openai_policy_with_a_real_model(deps) -> None:
    from tools.knowledge import ingest_paths

    await ingest_paths(sorted(p for p in INTERNAL_DOCS.glob("*.md") if p.name != "README.md"), "internal")
    model = fetch_test_model(MODEL)
    with llama_server(model, model_alias=MODEL) as base_url:
        deps.settings = deps.settings.model_copy(
            update={
                "llm": "openai",
                "openai_base_url": base_url,
                "openai_model": MODEL,
                "openai_timeout": 120.0,
            }
        )
        reset_policies()
        svc = await ChatService.create(deps, policy="openai", cache=False)
        r = await svc.ask("employee:llm1", "t", "Hello!")
        assert r["steps"] == ["answer"] and r["policy"] in ("openai", "offline")
        r = await svc.ask("employee:llm1", "t", "What is the staff discount on books for employees?")
        assert "retrieve" in r["steps"] and r["steps"][-1] == "answer", r
        assert "35 percent" in r["answer"] and r["citations"], r
        assert r["citations"][0]["source"] == "staff-handbook.md"
        from agent.policy.openai import FALLBACK_NOTICE

        # the endpoint answered (no fallback); a generated answer the sources do not support would be
        # replaced by the cited passages with a notice, which the 0.5B model sometimes triggers
        print("notices:", r["notices"], "answer:", r["answer"])
        assert r["policy"] == "openai" and FALLBACK_NOTICE not in r["notices"], r
        # every answer sentence carries a citation that exists
        import re

        refs = {int(n) for n in re.findall(r"\[(\d+)\]", r["answer"])}
        assert refs and max(refs) <= len(r["citations"])
        # a customer is refused internal material whatever the model says
        r = await svc.ask("customer:llm2", None, "Tell me the staff discount from the employee handbook")
        assert "35 percent" not in r["answer"]
    # the endpoint is gone: the turn still works, on the offline policy, with a visible notice
    r = await svc.ask("employee:llm1", None, "What is the first response target on Slack?")
    assert "2 business hours" in r["answer"] and r["notices"], r
    reset_policies()
