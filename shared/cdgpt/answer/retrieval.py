"""Retrieval: load a trained model (cached per process, keyed by its manifest), rank its chunks and documents.

`retrieve` is what chat answers from and what `cdgpt eval` measures: one ranking, one relevance decision.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from cdgpt.answer.relevance import Evidence, covers
from cdgpt.errors import ModelMismatch
from cdgpt.index.embeddings import Embedder, make_embedder
from cdgpt.index.lexical import LexicalIndex, tokenize
from cdgpt.models.artifacts import load_artifacts
from cdgpt.models.registry import Manifest, check_model_name, manifest_key, read_manifest
from cdgpt.models.store import ArtifactStore
from cdgpt.settings import Settings

if TYPE_CHECKING:
    import faiss

CACHED_MODELS = 8


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    etag: str
    index: faiss.Index
    vectors: np.ndarray  # the index's unit vectors, one row per chunk (a view, not a copy)
    lexical: LexicalIndex
    chunks: list[dict[str, Any]]
    embedder: Embedder
    documents: int  # distinct sources among the chunks


@dataclass(frozen=True)
class Hit:
    chunk: dict[str, Any]
    score: float  # fused, 0..1
    similarity: float  # cosine of the chunk and the question


@dataclass(frozen=True)
class Results:
    chunks: list[Hit]  # the best chunks, for an answer's context
    documents: list[Hit]  # one per distinct document (its best chunk), best first
    evidence: Evidence
    covered: bool = True  # False: the documents do not cover the question, and both lists are empty


_cache: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _single_threaded_queries() -> None:
    """BLAS and OpenMP threads cost more than they save on one query vector (~8 ms on 2 cores)."""
    import faiss
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    faiss.omp_set_num_threads(1)


def _embedder_for(manifest: Manifest, settings: Settings) -> Embedder:
    info = manifest.embedding
    if settings.embeddings and settings.embeddings != info.provider:
        raise ModelMismatch(
            f"model {manifest.model_name!r} was trained with {info.provider} embeddings ({info.model}), "
            f"but CDGPT_EMBEDDINGS={settings.embeddings}; retrain it or change the setting"
        )
    embedder = make_embedder(settings, info.provider, info.model, info.dim)
    if embedder.model != info.model or embedder.dim != info.dim:
        raise ModelMismatch(f"model {manifest.model_name!r} needs embedder {info.model} ({info.dim} dimensions)")
    return embedder


def load_model(name: str, store: ArtifactStore, settings: Settings) -> LoadedModel:
    """The model's current version; reloaded only when its manifest has changed."""
    key = (store.location, check_model_name(name))  # validated first: the name is part of a dict key
    with _lock:
        cached = _cache.get(key)
    if cached and not store.changed(manifest_key(name), cached.etag):
        with _lock:
            _cache.move_to_end(key)
        return cached
    manifest, etag = read_manifest(store, name)
    _single_threaded_queries()
    artifacts = load_artifacts(store, manifest)
    model = LoadedModel(
        manifest=manifest,
        etag=etag,
        index=artifacts.index,
        vectors=_vectors(artifacts.index),
        lexical=artifacts.lexical,
        chunks=artifacts.chunks,
        embedder=_embedder_for(manifest, settings),
        documents=len({chunk["source"] for chunk in artifacts.chunks}),
    )
    with _lock:
        _cache[key] = model
        _cache.move_to_end(key)
        while len(_cache) > CACHED_MODELS:
            _cache.popitem(last=False)
    return model


def _vectors(index: faiss.Index) -> np.ndarray:
    """A flat index's vectors as an array that shares its memory (the index must outlive it)."""
    import faiss

    n, dim = index.ntotal, index.d
    if not n:
        return np.zeros((0, dim), dtype=np.float32)
    flat: Any = faiss.downcast_index(index)  # IndexFlatIP
    return faiss.rev_swig_ptr(flat.get_xb(), n * dim).reshape(n, dim)


def retrieve(model: LoadedModel, question: str, k: int, settings: Settings) -> Results:
    """The k best chunks and documents that chat answers from, or none when they do not cover the question."""
    results = search(model, question, k, settings.lexical_weight)
    if covers(results.evidence, question, model.embedder.provider, settings.min_score):
        return results
    return Results([], [], results.evidence, covered=False)


def search(model: LoadedModel, question: str, k: int, lexical_weight: float) -> Results:
    """Rank every chunk by a weighted sum of its BM25 score (scaled by the best) and its cosine (scaled 0..1).

    Both are scaled over all chunks, never over a candidate pool, so a chunk's score and the order
    of the first documents do not depend on k. Documents are ranked by their best chunk.
    """
    query = model.embedder.embed([question])[0]
    lexical = model.lexical.scores(question)
    cosine = model.vectors @ query
    if not len(cosine):
        return Results([], [], Evidence(0.0, 0.0))
    low, high = float(cosine.min()), float(cosine.max())
    vector_part = (cosine - low) / (high - low) if high > low else np.ones_like(cosine)
    top_lexical = float(lexical.max())
    lexical_part = lexical / top_lexical if top_lexical > 0 else np.zeros_like(cosine)
    fused = lexical_weight * lexical_part + (1 - lexical_weight) * vector_part
    candidates = max(64, 8 * k)
    while True:
        ranked = _best(fused, cosine, candidates)
        results = _collect(model, ranked, fused, cosine, k)
        if len(results[1]) >= min(k, model.documents) or candidates >= len(fused):
            break
        candidates *= 4  # one long document can fill the candidates: look further for distinct ones
    return Results(*results, Evidence(high, model.lexical.coverage(tokenize(question, question=True))))


def _best(fused: np.ndarray, cosine: np.ndarray, n: int) -> np.ndarray:
    """The n best chunk ids, best first: by fused score, then the closer vector, then the lower id."""
    n = min(n, len(fused))
    ids = np.argpartition(-fused, n - 1)[:n] if n < len(fused) else np.arange(len(fused))
    return ids[np.lexsort((ids, -cosine[ids], -fused[ids]))]


def _collect(
    model: LoadedModel, ranked: np.ndarray, fused: np.ndarray, cosine: np.ndarray, k: int
) -> tuple[list[Hit], list[Hit]]:
    chunks: list[Hit] = []
    documents: list[Hit] = []
    seen: set[str] = set()
    for i in ranked.tolist():
        chunk = model.chunks[i]
        new_document = len(documents) < k and chunk["source"] not in seen
        if len(chunks) >= k and not new_document:
            if len(documents) >= k:
                break
            continue
        hit = Hit(chunk, float(fused[i]), float(cosine[i]))
        if len(chunks) < k:
            chunks.append(hit)
        if new_document:
            documents.append(hit)
            seen.add(chunk["source"])
    return chunks, documents
