"""Run llama-cpp-python's OpenAI-compatible server for integration tests (helper, not a test).

    with llama_server(model_path) as base_url:      # "http://127.0.0.1:PORT/v1"
        client = openai.OpenAI(base_url=base_url, api_key="sk-local")

The server is ``python -m llama_cpp.server`` in a subprocess of the current interpreter, bound to
127.0.0.1 on a free port. Its stdout/stderr go to a temp file (never a pipe: llama.cpp logs a lot
and an unread pipe would block it); the tail of that log is put in the error when it fails to come up.
Install llama-cpp-python with scripts/llm/build_llama_cpp.sh first.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

__all__ = ["LlamaServerError", "free_port", "llama_server", "fetch_module", "fetch_test_model"]

REPO = Path(__file__).resolve().parents[2]

DEFAULT_N_CTX = 4096


class LlamaServerError(RuntimeError):
    """The llama.cpp server could not be started or did not become ready."""


def fetch_module() -> ModuleType:
    """scripts/llm/fetch_model.py (a script, not a package module), loaded from its path."""
    path = REPO / "scripts" / "llm" / "fetch_model.py"
    spec = importlib.util.spec_from_file_location("libromind_fetch_model", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fetch_test_model(name: str) -> Path:
    """The pinned, sha256-checked GGUF ``name`` in fetch_model's cache (never inside LIBROMIND_HOME);
    fails the test loudly when it cannot be had."""
    import pytest

    fm = fetch_module()
    try:
        return Path(fm.fetch_model(name, Path(fm.default_dest())))
    except (fm.FetchError, OSError) as exc:
        pytest.fail(f"could not fetch {name}: {exc}", pytrace=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "<no server log>"
    return "\n".join(text.splitlines()[-lines:])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback only)
            body = json.loads(resp.read())
            return resp.status == 200 and bool(body.get("data"))
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
    try:
        proc.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


@contextlib.contextmanager
def llama_server(
    model_path: str | os.PathLike[str],
    port: int | None = None,
    *,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int | None = None,
    chat_format: str | None = "chatml",
    model_alias: str | None = None,
    logits_all: bool = False,
    timeout: float = 120.0,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    python: str | None = None,
) -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` for ``model_path``; yield ``http://127.0.0.1:PORT/v1``.

    ``chat_format="chatml"`` is Qwen2.5's prompt format; pass ``None`` to use the GGUF's embedded
    Jinja template instead. ``n_threads`` defaults to all cores (llama-cpp-python's own default is
    half of them). ``logits_all`` stays off (the server's default is on, which keeps an
    n_ctx x 151936-float score matrix, ~2.5 GB at n_ctx=4096, and slows prompt processing; it is
    only needed for ``logprobs``). OMP_WAIT_POLICY=PASSIVE is set unless ``env``/the environment
    says otherwise: with spinning OpenMP workers a loaded 2-core machine runs several times slower.
    Raises LlamaServerError (with the server log's tail) when the process exits or
    ``/v1/models`` does not answer within ``timeout`` seconds. The server is stopped on exit.
    """
    model = Path(model_path)
    if not model.is_file():
        raise LlamaServerError(f"model file not found: {model}")
    py = python or sys.executable
    if python is None and importlib.util.find_spec("llama_cpp") is None:
        raise LlamaServerError(
            f"llama_cpp is not importable in {py}; "
            f"run scripts/llm/build_llama_cpp.sh {Path(py).parent.parent}"
        )
    port = port or free_port()
    cmd = [
        py, "-m", "llama_cpp.server",
        "--model", str(model),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(n_threads or os.cpu_count() or 1),
        "--n_threads_batch", str(n_threads or os.cpu_count() or 1),
        "--model_alias", model_alias or model.stem,
        "--logits_all", "true" if logits_all else "false",
    ]  # fmt: skip
    if chat_format:
        cmd += ["--chat_format", chat_format]
    cmd += extra_args or []

    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
        proc_env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, **(env or {})}
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=proc_env
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise LlamaServerError(
                    f"llama_cpp.server exited with {proc.returncode} before becoming ready\n"
                    f"command: {' '.join(cmd)}\n--- server log tail ---\n{_tail(log_path)}"
                )
            if _ready(f"{base_url}/models"):
                break
            if time.monotonic() > deadline:
                raise LlamaServerError(
                    f"llama_cpp.server not ready after {timeout:.0f}s on {base_url}\n"
                    f"command: {' '.join(cmd)}\n--- server log tail ---\n{_tail(log_path)}"
                )
            time.sleep(0.25)
        yield base_url
    finally:
        _stop(proc)
        log_path.unlink(missing_ok=True)
