"""``libromind bench ingest``: ingest a corpus into a fresh database (empty embedding cache) and report
documents, pages and chunks per second. ``libromind bench embed``: PyTorch vs ONNX (fp32 / int8)
embedding speed and cosine agreement on real corpus chunks."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from memory.home import ensure_home

__all__ = ["register_bench", "run_ingest_bench", "run_embed_bench"]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO / "data" / "docs" / "debian-policy"


async def run_ingest_bench(corpus: Path) -> dict[str, Any]:
    from evals.bench.search import bench_settings
    from memory.settings import get_settings
    from tools.deps import Deps, use
    from tools.knowledge import ingest_paths

    settings = await bench_settings(get_settings(), "libromind_bench_ingest", fresh=True)
    deps = await Deps.build(settings)
    use(deps)
    try:
        t_model = time.perf_counter()
        deps.embedder.embed_one("warm up")  # model load is not ingestion
        model_s = time.perf_counter() - t_model
        t0 = time.perf_counter()
        summary = await ingest_paths([corpus], "public")
        seconds = time.perf_counter() - t0
    finally:
        await deps.close()
    docs = summary["indexed"]
    html_pages = sum(1 for d in summary["documents"] if d["status"] == "indexed" and not d.get("pages"))
    pages = summary["pages"] + html_pages
    return {
        "corpus": str(corpus),
        "files": summary["files"],
        "indexed": docs,
        "failed": summary["failed"],
        "pdf_pages": summary["pages"],
        "pages": pages,
        "chunks": summary["chunks"],
        "seconds": round(seconds, 2),
        "model_load_s": round(model_s, 2),
        "pages_per_s": round(pages / seconds, 2),
        "chunks_per_s": round(summary["chunks"] / seconds, 1),
        "docs_per_s": round(docs / seconds, 2),
        "under_60s": seconds < 60,
    }


class OnnxEncoder:
    """all-MiniLM-L6-v2 on ONNX Runtime: WordPiece (tokenizers) -> BERT (ONNX) -> mean pool -> L2 norm."""

    def __init__(self, onnx_path: Path, tokenizer_json: Path, max_len: int = 256) -> None:
        import onnxruntime as ort
        import torch
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        self.sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.tok = Tokenizer.from_file(str(tokenizer_json))
        self.tok.enable_truncation(max_len)
        self.tok.enable_padding()

    def encode(self, texts: list[str], batch_size: int = 64, **_: Any) -> Any:
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self.tok.encode_batch([texts[i] for i in idx])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            hidden = self.sess.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out[idx] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def export_onnx(target: Path) -> tuple[Path, Path]:
    """Export the packaged model to ONNX (fp32) and a dynamic int8 quantisation, offline, once."""
    import torch
    from transformers import AutoModel

    from memory.documents.embed import default_model_path

    fp32, int8 = target / "model.onnx", target / "model_int8_matmul_pc.onnx"
    if fp32.exists() and int8.exists():
        return fp32, int8
    target.mkdir(parents=True, exist_ok=True)
    if fp32.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
        return fp32, int8
    bert = AutoModel.from_pretrained(str(default_model_path())).eval()

    class _Wrap(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {"b": 0, "s": 1}
    dyn = {
        n: {v: k for k, v in axes.items()}
        for n in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
    }
    torch.onnx.export(
        _Wrap(),
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes=dyn,
        opset_version=17,
        dynamo=False,
    )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # per-channel int8 weights on MatMul only: cos >= 0.99 to fp32 (per-tensor, all ops: ~0.95)
    quantize_dynamic(
        str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
    )
    return fp32, int8


def _onnx_model(kind: str) -> OnnxEncoder:
    from memory.documents.embed import default_model_path
    from memory.settings import get_settings

    fp32, int8 = export_onnx(ensure_home(get_settings().home) / "models" / "all-MiniLM-L6-v2-onnx")
    return OnnxEncoder(int8 if kind == "onnx-int8" else fp32, default_model_path() / "tokenizer.json")


def run_embed_bench(corpus: Path, n: int = 512, repeats: int = 2) -> dict[str, Any]:
    import numpy as np

    from memory.documents.chunk import chunk
    from memory.documents.embed import get_embedder
    from memory.documents.parse import parse

    texts: list[str] = []
    for f in sorted(corpus.rglob("*.html")):
        doc = parse(f.read_bytes(), f.name)
        texts.extend(c.text for c in chunk(doc))
        if len(texts) >= n:
            break
    texts = texts[:n]
    ref_model = get_embedder().model
    out: dict[str, Any] = {"texts": len(texts)}
    models: dict[str, Any] = {
        "torch-fp32": ref_model,
        "onnx-fp32": _onnx_model("onnx"),
        "onnx-int8": _onnx_model("onnx-int8"),
    }
    vecs: dict[str, Any] = {}
    for name, m in models.items():
        m.encode(texts[:16], normalize_embeddings=True)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            v = m.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
            best = min(best, time.perf_counter() - t0)
        vecs[name] = np.asarray(v, dtype=np.float32)
        out[name] = {"seconds": round(best, 2), "texts_per_s": round(len(texts) / best, 1)}
    ref = vecs["torch-fp32"]
    for name in ("onnx-fp32", "onnx-int8"):
        cos = (vecs[name] * ref).sum(axis=1)
        out[name].update(
            {
                "speedup": round(out["torch-fp32"]["seconds"] / out[name]["seconds"], 2),
                "cos_mean": round(float(cos.mean()), 5),
                "cos_min": round(float(cos.min()), 5),
            }
        )
    return out


def register_bench(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        corpus: Path = typer.Option(DEFAULT_CORPUS, "--corpus", exists=True, file_okay=False),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Ingest a corpus into a fresh bench database (empty embedding cache); report pages/s, chunks/s."""
        from libromind.commands._common import console, run

        report = run(run_ingest_bench(corpus))
        if as_json:
            sys.stdout.write(json.dumps(report) + "\n")
            return
        console.print(
            f"ingested {report['indexed']}/{report['files']} files: {report['pages']} pages "
            f"({report['pdf_pages']} PDF pages), {report['chunks']} chunks in {report['seconds']:.1f} s -> "
            f"{report['pages_per_s']:.1f} pages/s, {report['chunks_per_s']:.1f} chunks/s "
            f"(goal < 60 s: {'met' if report['under_60s'] else 'NOT met'})",
            highlight=False,
        )

    @app.command("embed")
    def embed(
        corpus: Path = typer.Option(DEFAULT_CORPUS, "--corpus", exists=True, file_okay=False),
        n: int = typer.Option(512, "--n", help="Number of corpus chunks to embed."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Compare PyTorch and ONNX Runtime (fp32, int8) embedding speed and cosine agreement."""
        from libromind.commands._common import console

        report = run_embed_bench(corpus, n)
        if as_json:
            sys.stdout.write(json.dumps(report) + "\n")
            return
        for name in ("torch-fp32", "onnx-fp32", "onnx-int8"):
            r = report[name]
            extra = (
                f", x{r['speedup']} vs torch, cos mean {r['cos_mean']} min {r['cos_min']}"
                if "speedup" in r
                else ""
            )
            console.print(f"{name}: {r['texts_per_s']} chunks/s{extra}", highlight=False)
