"""Incremental retraining: a chunk whose indexed text is unchanged keeps its vector; only new text is embedded."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from cdgpt.errors import ModelNotFound
from cdgpt.ingest.chunking import Chunk
from cdgpt.models.registry import read_artifact, read_manifest

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from cdgpt.index.embeddings import Embedder
    from cdgpt.models.store import ArtifactStore


def _key(context: str) -> str:
    return hashlib.sha256(context.encode()).hexdigest()


def previous_vectors(store: ArtifactStore, model_name: str, embedder: Embedder) -> dict[str, np.ndarray]:
    """The current version's vectors by the hash of their chunk's text, if the same embedder made them."""
    from cdgpt.index.vectors import vector_index_from_bytes

    try:
        manifest, _ = read_manifest(store, model_name)
        info = manifest.embedding
        if (info.provider, info.model) != (embedder.provider, embedder.model) or embedder.dim not in (0, info.dim):
            return {}
        index = vector_index_from_bytes(read_artifact(store, manifest, "index"))
        chunks = json.loads(read_artifact(store, manifest, "docstore"))["chunks"]
        vectors = index.reconstruct_n(0, index.ntotal)
    except ModelNotFound:
        return {}
    except Exception:  # reuse only saves work: a model it cannot read is trained from scratch
        log.warning("cannot reuse the current version's vectors", extra={"model_name": model_name}, exc_info=True)
        return {}
    return {_key(Chunk(**{**c, "headings": tuple(c["headings"])}).context): vectors[i] for i, c in enumerate(chunks)}


def embed_chunks(
    chunks: list[Chunk], embedder: Embedder, known: dict[str, np.ndarray], progress: Callable[[int], None] | None
) -> tuple[np.ndarray, int]:
    """Vectors for every chunk, embedding only the texts `known` lacks; returns them and how many were embedded."""
    keys = [_key(c.context) for c in chunks]
    missing = [i for i, key in enumerate(keys) if key not in known]
    fresh = embedder.embed([chunks[i].context for i in missing], progress) if missing else None
    if fresh is not None and known and fresh.shape[1] != len(next(iter(known.values()))):
        return embed_chunks(chunks, embedder, {}, progress)  # the server's dimension changed: embed all
    dim = fresh.shape[1] if fresh is not None else len(next(iter(known.values())))
    vectors = np.empty((len(chunks), dim), dtype=np.float32)
    if fresh is not None:
        vectors[missing] = fresh
    for i, key in enumerate(keys):
        if key in known:
            vectors[i] = known[key]
    return vectors, len(missing)
