"""Retrieval: load a trained model (cached per process, keyed by its manifest) and find the closest chunks."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from cdgpt.errors import ModelMismatch
from cdgpt.index.embeddings import Embedder, make_embedder
from cdgpt.index.lexical import LexicalIndex
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


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(scores))
    return np.argpartition(-scores, n - 1)[:n] if n else np.zeros(0, dtype=np.int64)


def search(model: LoadedModel, question: str, k: int, lexical_weight: float) -> Results:
    """Fuse vector and BM25 scores (each scaled to 0..1 over the candidates, then a weighted sum).

    The candidates are the best `pool` chunks of each kind; when they hold fewer than k distinct
    documents (one long document can fill them all), the pool widens until they do or it holds every chunk.
    """
    query = model.embedder.embed([question])[0]
    lexical = model.lexical.scores(question)
    pool = max(64, 8 * k)
    while True:
        results = _fuse(model, query, lexical, k, lexical_weight, pool)
        if len(results.documents) >= min(k, model.documents) or pool >= model.index.ntotal:
            return results
        pool *= 4


def _fuse(
    model: LoadedModel, query: np.ndarray, lexical: np.ndarray, k: int, lexical_weight: float, pool: int
) -> Results:
    from cdgpt.index.vectors import search_vectors

    vector_hits = dict(search_vectors(model.index, query, pool))
    ids = np.array(sorted(set(vector_hits) | set(_top(lexical, pool).tolist())), dtype=np.int64)
    if not len(ids):
        return Results([], [])
    cosine = model.index.reconstruct_batch(ids) @ query
    low, high = float(cosine.min()), float(cosine.max())
    vector_part = (cosine - low) / (high - low) if high > low else np.ones_like(cosine)
    top_lexical = float(lexical.max())
    lexical_part = lexical[ids] / top_lexical if top_lexical > 0 else np.zeros(len(ids), dtype=np.float32)
    fused = lexical_weight * lexical_part + (1 - lexical_weight) * vector_part
    chunks: list[Hit] = []
    documents: list[Hit] = []
    for position in np.lexsort((-cosine, -fused)):  # best fused first; ties go to the closer vector
        chunk = model.chunks[int(ids[position])]
        new_document = len(documents) < k and all(d.chunk["source"] != chunk["source"] for d in documents)
        if len(chunks) >= k and not new_document:
            if len(documents) >= k:
                break
            continue
        hit = Hit(chunk, float(fused[position]), float(cosine[position]))
        if len(chunks) < k:
            chunks.append(hit)
        if new_document:
            documents.append(hit)
    return Results(chunks, documents)
