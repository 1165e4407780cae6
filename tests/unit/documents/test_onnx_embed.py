"""The ONNX embedding backends against the torch reference: same vectors (fp32), close vectors and the
same rankings (int8), and an export cache that is shared, checked and rebuilt when tampered with."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from memory.documents.embed import Embedder, default_model_path
from memory.documents.ingest import model_key
from memory.documents.onnx_embed import ensure_onnx
from memory.settings import Settings

TEXTS = [
    "Packages must not modify configuration files of other packages.",
    "Every package must specify the priority field in its control file.",
    "How do I report a bug?",
    "",
    "Short",
    " ".join(["The maintainer scripts must be idempotent and handle being run twice."] * 40),  # > 256
]
DOCS = [
    "The Debian archive is split into the main, contrib and non-free areas.",
    "Maintainer scripts such as postinst must be idempotent.",
    "Refunds are issued within 14 days of receiving the returned book.",
    "Shared libraries must be placed in a package named after their SONAME.",
]
QUERIES = ["which archive areas exist", "can I get my money back", "where do shared libraries go"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def torch_vecs() -> np.ndarray:
    return Embedder(backend="torch").embed(TEXTS)


def test_onnx_fp32_gives_the_torch_vectors(models_dir: Path, torch_vecs: np.ndarray) -> None:
    vecs = Embedder(backend="onnx", models_dir=models_dir).embed(TEXTS)
    assert vecs.shape == (len(TEXTS), 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cos = (vecs * torch_vecs).sum(axis=1)
    assert cos.min() >= 0.9999, cos  # incl. the empty string and a text truncated at 256 tokens


def test_onnx_int8_is_close_and_ranks_the_same(models_dir: Path, torch_vecs: np.ndarray) -> None:
    int8 = Embedder(backend="onnx-int8", models_dir=models_dir)
    cos = (int8.embed(TEXTS) * torch_vecs).sum(axis=1)
    assert cos.min() >= 0.96 and cos.mean() >= 0.985, cos  # the empty string is the worst (~0.965)
    ref = Embedder(backend="torch")
    for q in QUERIES:
        want = np.argsort(-(ref.embed(DOCS) @ ref.embed_one(q)))
        got = np.argsort(-(int8.embed(DOCS) @ int8.embed_one(q)))
        assert got[0] == want[0], q


def test_export_is_reused_and_a_tampered_file_is_rebuilt(models_dir: Path) -> None:
    path = ensure_onnx(default_model_path(), "fp32", models_dir)
    before = path.stat().st_mtime_ns
    assert ensure_onnx(default_model_path(), "fp32", models_dir) == path
    assert path.stat().st_mtime_ns == before  # not re-exported
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["variant"] == "fp32" and len(meta["source_sha256"]) == 64
    with path.open("r+b") as fh:  # flip bytes in the middle of the weights
        fh.seek(path.stat().st_size // 2)
        fh.write(b"\x00" * 64)
    assert ensure_onnx(default_model_path(), "fp32", models_dir) == path
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == meta["sha256"]  # rebuilt


def _export(models_dir: str) -> str:
    return str(ensure_onnx(default_model_path(), "fp32", Path(models_dir)))


def test_concurrent_first_exports_leave_one_valid_file(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        paths = pool.map(_export, [str(tmp_path)] * 2)
    assert len(set(paths)) == 1
    out_dir = Path(paths[0]).parent
    assert sorted(p.name for p in out_dir.iterdir() if not p.name.startswith(".")) == [
        "model-fp32.json",
        "model-fp32.onnx",
    ]  # no temp files left behind
    assert ensure_onnx(default_model_path(), "fp32", tmp_path) == Path(paths[0])


def test_int8_vectors_get_their_own_embedding_cache_key() -> None:
    assert model_key(Embedder(backend="torch")) == model_key(Embedder(backend="onnx"))
    assert model_key(Embedder(backend="onnx-int8")).endswith("#int8")


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown embedding backend"):
        Embedder(backend="gpu")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(embed_backend="gpu")  # type: ignore[arg-type]
