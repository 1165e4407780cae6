"""Demo data for ``make run`` and the evaluations: the book catalog, the public documentation and a few
internal staff documents (demo content, ACL ``internal``). Idempotent: unchanged files are skipped and
the catalog loader keeps what is already loaded."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.deps import Deps, use

__all__ = ["load_demo_data", "data_dir", "PUBLIC_DOCS", "INTERNAL_DOCS"]

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("LIBROMIND_DEMO_DIR") or REPO / "data")


PUBLIC_DOCS = "docs/debian-policy"
INTERNAL_DOCS = REPO / "evals" / "datasets" / "internal_docs"

Progress = Callable[[dict[str, Any]], Any]


async def _call(progress: Progress | None, event: dict[str, Any]) -> None:
    if progress is None:
        return
    res = progress(event)
    if inspect.isawaitable(res):
        await res


async def load_demo_data(
    deps: Deps,
    *,
    progress: Progress | None = None,
    catalog: bool = True,
    public_docs: bool = True,
    internal_docs: bool = True,
) -> dict[str, Any]:
    """Load (or top up) the demo catalog, public docs and internal demo docs; return a summary."""
    use(deps)
    summary: dict[str, Any] = {}
    if catalog:
        from memory.commerce.demo import load_demo_catalog

        def cat_progress(step: str, done: int, total: int) -> None:
            if progress is not None:
                res = progress({"stage": "catalog", "step": step, "done": done, "total": total})
                if inspect.iscoroutine(res):
                    res.close()  # catalog progress is synchronous: give a plain function

        await _call(progress, {"stage": "catalog", "status": "start"})
        summary["catalog"] = await load_demo_catalog(
            deps.db, deps.embedder, data_dir(), progress=cat_progress
        )
    from tools.knowledge import ingest_paths

    if public_docs:
        src = data_dir() / PUBLIC_DOCS
        await _call(progress, {"stage": "public_docs", "status": "start", "path": str(src)})
        summary["public_docs"] = _brief(
            await ingest_paths(
                [src], "public", progress=lambda e: _call(progress, {"stage": "public_docs", **e})
            )
        )
    if internal_docs:
        files = sorted(p for p in INTERNAL_DOCS.glob("*.md") if p.name.lower() != "readme.md")
        await _call(progress, {"stage": "internal_docs", "status": "start", "files": len(files)})
        summary["internal_docs"] = _brief(
            await ingest_paths(
                files, "internal", progress=lambda e: _call(progress, {"stage": "internal_docs", **e})
            )
        )
    return summary


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "documents"}
