"""Keyword retrieval: real BM25 (bm25s) over the chunks table, in memory, refreshed by corpus version.

The index is a snapshot of the chunks table at one corpus version (read in one REPEATABLE READ
transaction). Every query checks ``meta.corpus_version`` and rebuilds when it moved, so a query never
mixes two versions. ACLs are applied *inside* the scoring: a 0/1 weight mask of the documents the
principal may read multiplies the scores before the top-k cut (bm25s ``weight_mask``), and again when
the hits are fetched from the database (``WHERE acl = ANY(scopes)``): a snapshot may be a moment older
than the rows (an ACL change committed between the version check and the fetch), so the snapshot's
ACLs never decide alone what a principal reads. A hit the fetch drops makes the next attempt rebuild.

Snapshots are saved under ``LIBROMIND_HOME/index/bm25`` and reloaded when they match the database
(identity, version, chunk count and max id), so a restart does not re-tokenize 100k chunks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from memory.db import Database
from memory.index.base import Hit

__all__ = ["BM25Index", "tokenize", "analyze"]

log = logging.getLogger(__name__)
_WORD = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # pragma: no cover - PyStemmer is a core dependency
        return None


def analyze(text: str) -> list[str]:
    """Lower-cased words (2+ chars) without English stop words, unstemmed."""
    stop = _stopwords()
    return [w for w in _WORD.findall(text.lower()) if w not in stop]


def tokenize(text: str) -> list[str]:
    """The BM25 analyzer: lower-case words, English stop words removed, Snowball-stemmed."""
    words = analyze(text)
    stem = _stemmer()
    return list(stem.stemWords(words)) if stem is not None else words


def _doc_text(row: dict[str, Any]) -> str:
    return f"{row['title']}\n{row['section']}\n{row['text']}"


class _Snapshot:
    def __init__(
        self,
        version: int,
        fingerprint: str,
        retriever: Any,
        ids: np.ndarray,
        acl_codes: np.ndarray,
        acl_names: list[str],
    ) -> None:
        self.version = version
        self.fingerprint = fingerprint
        self.retriever = retriever
        self.ids = ids
        self.acl_codes = acl_codes
        self.acl_names = acl_names
        self.masks: dict[tuple[str, ...], np.ndarray] = {}
        vocab = retriever.vocab_dict if retriever is not None else {}
        self.vocab: dict[str, int] = vocab
        if retriever is not None:
            indptr = retriever.scores["indptr"]
            self.df = np.diff(indptr).astype(np.int64)
            self.n_docs = int(retriever.scores["num_docs"])
        else:
            self.df = np.zeros(0, dtype=np.int64)
            self.n_docs = 0

    def mask(self, scopes: Sequence[str]) -> np.ndarray:
        key = tuple(sorted(set(scopes)))
        m = self.masks.get(key)
        if m is None:
            allowed = [i for i, name in enumerate(self.acl_names) if name in key]
            m = np.isin(self.acl_codes, np.asarray(allowed, dtype=self.acl_codes.dtype)).astype(np.float32)
            if len(self.masks) > 64:
                self.masks.clear()
            self.masks[key] = m
        return m


class BM25Index:
    """bm25s over the chunks table (title + section + text), with ACL masks."""

    def __init__(self, db: Database, *, home: Path | None = None, k1: float = 1.2, b: float = 0.75) -> None:
        self.db = db
        self.home = home
        self.k1, self.b = k1, b
        self._snap: _Snapshot | None = None
        self._lock = asyncio.Lock()
        self.build_seconds: float | None = None

    @property
    def version(self) -> int | None:
        return self._snap.version if self._snap else None

    async def _db_version(self) -> int:
        row = await self.db.fetchrow(
            "SELECT (value #>> '{}')::bigint AS v FROM meta WHERE key = 'corpus_version'"
        )
        return int(row["v"]) if row else 0

    async def refresh(self, *, force: bool = False, stale: _Snapshot | None = None) -> _Snapshot:
        """Make the in-memory index match the current corpus version (rebuild or reload if needed).

        ``stale``: a snapshot found not to match the rows; rebuilt unless another task already did."""
        version = await self._db_version()
        snap = self._snap
        if (
            snap is not None
            and snap.version == version
            and not force
            and (stale is None or snap is not stale)
        ):
            return snap
        async with self._lock:
            snap = self._snap
            if (
                snap is not None
                and snap.version == version
                and not force
                and (stale is None or snap is not stale)
            ):
                return snap
            self._snap = await self._build()
            return self._snap

    async def _build(self) -> _Snapshot:
        t0 = time.perf_counter()
        async with self.db.pool.connection() as conn:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                cur = await conn.execute(
                    "SELECT (SELECT (value #>> '{}')::bigint FROM meta WHERE key = 'corpus_version') AS v, "
                    "(SELECT count(*) FROM chunks) AS n, "
                    "(SELECT coalesce(max(id), 0) FROM chunks) AS max_id, "
                    "(SELECT system_identifier FROM pg_control_system())::text AS sysid, "
                    "current_database() AS dbname"
                )
                head = await cur.fetchone()
                assert head is not None
                version = int(head["v"] or 0)  # type: ignore[call-overload]
                fingerprint = f"{head['sysid']}/{head['dbname']}/{version}/{head['n']}/{head['max_id']}"  # type: ignore[call-overload]
                loaded = await asyncio.to_thread(self._load, fingerprint, version)
                if loaded is not None:
                    await conn.execute("COMMIT")
                    log.info("bm25: loaded snapshot v%s (%s chunks)", version, len(loaded.ids))
                    return loaded
                ids: list[int] = []
                acls: list[str] = []
                corpus: list[list[str]] = []
                stem = _stemmer()
                stop = _stopwords()
                async with conn.cursor(name="bm25_snapshot") as scur:
                    await scur.execute("SELECT id, acl, title, section, text FROM chunks ORDER BY id")
                    while True:
                        rows = await scur.fetchmany(5000)
                        if not rows:
                            break

                        def _tok(batch: list[dict[str, Any]]) -> list[list[str]]:
                            out = []
                            for r in batch:
                                words = [w for w in _WORD.findall(_doc_text(r).lower()) if w not in stop]
                                out.append(list(stem.stemWords(words)) if stem is not None else words)
                            return out

                        corpus.extend(await asyncio.to_thread(_tok, rows))  # type: ignore[arg-type]
                        ids.extend(int(r["id"]) for r in rows)  # type: ignore[call-overload]
                        acls.extend(r["acl"] for r in rows)  # type: ignore[call-overload]
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        snap = await asyncio.to_thread(self._index, version, fingerprint, ids, acls, corpus)
        self.build_seconds = time.perf_counter() - t0
        log.info("bm25: indexed %s chunks at corpus v%s in %.1f s", len(ids), version, self.build_seconds)
        await asyncio.to_thread(self._save, snap)
        return snap

    def _index(
        self, version: int, fingerprint: str, ids: list[int], acls: list[str], corpus: list[list[str]]
    ) -> _Snapshot:
        import bm25s

        names = sorted(set(acls))
        codes = {n: i for i, n in enumerate(names)}
        acl_codes = np.asarray([codes[a] for a in acls], dtype=np.int16)
        retriever = None
        if ids:
            retriever = bm25s.BM25(k1=self.k1, b=self.b)
            # bm25s wants at least one token per document
            retriever.index([toks or ["\x00empty"] for toks in corpus], show_progress=False)
        return _Snapshot(version, fingerprint, retriever, np.asarray(ids, dtype=np.int64), acl_codes, names)

    # ---------------------------------------------------------------- persistence

    def _dir(self) -> Path | None:
        return self.home / "index" / "bm25" if self.home else None

    def _save(self, snap: _Snapshot) -> None:
        d = self._dir()
        if d is None or snap.retriever is None or len(snap.ids) < 5000:
            return
        try:
            tmp = d.with_name("bm25.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            snap.retriever.save(str(tmp / "bm25s"))
            np.save(tmp / "ids.npy", snap.ids)
            np.save(tmp / "acl_codes.npy", snap.acl_codes)
            (tmp / "meta.json").write_text(
                json.dumps(
                    {
                        "fingerprint": snap.fingerprint,
                        "version": snap.version,
                        "acl_names": snap.acl_names,
                        "k1": self.k1,
                        "b": self.b,
                    }
                )
            )
            shutil.rmtree(d, ignore_errors=True)
            tmp.rename(d)
        except OSError as exc:  # a cache: never fatal
            log.warning("bm25: could not save snapshot: %s", exc)

    def _load(self, fingerprint: str, version: int) -> _Snapshot | None:
        d = self._dir()
        if d is None or not (d / "meta.json").exists():
            return None
        try:
            meta = json.loads((d / "meta.json").read_text())
            if meta.get("fingerprint") != fingerprint or (meta.get("k1"), meta.get("b")) != (self.k1, self.b):
                return None
            import bm25s

            retriever = bm25s.BM25.load(str(d / "bm25s"))
            return _Snapshot(
                version,
                fingerprint,
                retriever,
                np.load(d / "ids.npy"),
                np.load(d / "acl_codes.npy"),
                list(meta["acl_names"]),
            )
        except Exception as exc:  # noqa: BLE001 - a stale or damaged cache is rebuilt
            log.warning("bm25: ignoring snapshot: %s", exc)
            return None

    # ---------------------------------------------------------------- queries

    def _score(
        self,
        snap: _Snapshot,
        tokens: list[str],
        k: int,
        scopes: Sequence[str],
        weights: dict[str, float] | None = None,
    ) -> list[tuple[int, float]]:
        if snap.retriever is None or k <= 0:
            return []
        ids = [snap.vocab[t] for t in tokens if t in snap.vocab]
        if not ids:
            return []
        mask = snap.mask(scopes)
        if weights:
            scores = np.zeros(len(snap.ids), dtype=np.float32)
            for tok, w in weights.items():
                tid = snap.vocab.get(tok)
                if tid is not None:
                    scores += w * snap.retriever.get_scores_from_ids([tid])
            scores *= mask
        else:
            scores = snap.retriever.get_scores_from_ids(ids, weight_mask=mask)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(snap.ids[i]), float(scores[i])) for i in top if scores[i] > 0]

    async def keyword(
        self, query: str, k: int, scopes: Sequence[str], *, weights: dict[str, float] | None = None
    ) -> list[Hit]:
        """Top-k chunks by BM25 among those whose ACL is in ``scopes`` (weights: weighted stem query)."""
        stale: _Snapshot | None = None
        for _attempt in range(2):
            snap = await self.refresh(stale=stale)
            pairs = self._score(snap, tokenize(query), k, scopes, weights)
            rows = await self.fetch(list(dict.fromkeys(cid for cid, _ in pairs)), scopes)
            if len(rows) == len({cid for cid, _ in pairs}):
                return [_hit(rows[cid], score) for cid, score in pairs]
            # the corpus (or an ACL) changed between the snapshot and the fetch: rebuild and answer
            # from the new snapshot; the fetch's ACL filter already kept out what may not be read
            stale = snap
        return [_hit(rows[cid], score) for cid, score in pairs if cid in rows]

    async def fetch(self, ids: Sequence[int], scopes: Sequence[str]) -> dict[int, dict[str, Any]]:
        """Chunk rows by id, only those whose ACL is in ``scopes`` (the current rows decide)."""
        from memory.documents.store import CHUNK_COLUMNS

        if not ids:
            return {}
        rows = await self.db.fetch(
            f"SELECT {CHUNK_COLUMNS} FROM chunks c WHERE c.id = ANY(%s) AND c.acl = ANY(%s)",
            [int(i) for i in ids],
            list(scopes),
        )
        return {int(r["id"]): r for r in rows}

    async def term_stats(self) -> tuple[dict[str, int], np.ndarray, int]:
        """(vocabulary, document frequencies, number of chunks) of the current snapshot (for RM3)."""
        snap = await self.refresh()
        return snap.vocab, snap.df, snap.n_docs


def _hit(row: dict[str, Any], score: float) -> Hit:
    return Hit(
        chunk_id=str(row["id"]),
        doc_id=str(row["doc_id"]),
        source=row["source"],
        title=row["title"],
        section=row["section"],
        page=row["page"],
        text=row["text"],
        score=score,
        acl=row["acl"],
    )
