"""Retrieval: load a trained model (cached per process, keyed by its manifest) and find the closest chunks."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .embeddings import Embedder, make_embedder
from .errors import ModelMismatch
from .registry import Manifest, check_model_name, manifest_key, read_artifact, read_manifest
from .settings import Settings
from .store import ArtifactStore

if TYPE_CHECKING:
    import faiss

CACHED_MODELS = 8


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    etag: str
    index: faiss.Index
    chunks: list[dict[str, Any]]
    embedder: Embedder


@dataclass(frozen=True)
class Hit:
    chunk: dict[str, Any]
    score: float


_cache: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
_lock = threading.Lock()


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
    from .index import vector_index_from_bytes

    model = LoadedModel(
        manifest=manifest,
        etag=etag,
        index=vector_index_from_bytes(read_artifact(store, manifest, "index")),
        chunks=json.loads(read_artifact(store, manifest, "docstore"))["chunks"],
        embedder=_embedder_for(manifest, settings),
    )
    with _lock:
        _cache[key] = model
        _cache.move_to_end(key)
        while len(_cache) > CACHED_MODELS:
            _cache.popitem(last=False)
    return model


def retrieve(model: LoadedModel, question: str, k: int) -> list[Hit]:
    from .index import search_vectors

    query = model.embedder.embed([question])[0]
    return [Hit(model.chunks[i], score) for i, score in search_vectors(model.index, query, k)]
