"""A ChatService over in-memory fakes: real graph + offline policy + InMemorySaver, fake tools."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

import tools
from agent.policy import reset_policies
from memory.documents.embed import get_embedder
from memory.settings import Settings
from tests.unit.agent.fakes import make_modules


@pytest.fixture
def fake_tools(monkeypatch: pytest.MonkeyPatch) -> dict:
    mods = make_modules()
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, f"tools.{name}", mod)
        monkeypatch.setattr(tools, name, mod, raising=False)
    return mods


@pytest.fixture
async def service(fake_tools: dict, tmp_path) -> AsyncIterator:
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.service import ChatService
    from tools.deps import use

    settings = Settings(home=tmp_path / "home", llm="offline", cache="off", _env_file=None)  # type: ignore[call-arg]
    deps = SimpleNamespace(settings=settings, db=None, embedder=get_embedder(), extras={})
    use(deps)  # type: ignore[arg-type]
    reset_policies()
    svc = ChatService(deps, InMemorySaver(), record=False)  # type: ignore[arg-type]
    svc.shop = fake_tools["orders"].shop  # type: ignore[attr-defined]
    yield svc
