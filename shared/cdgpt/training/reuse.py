"""What a training takes from the version it replaces: its chunks, and their vectors by text.

A chunk whose indexed text is unchanged keeps its vector, so only new text is embedded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cdgpt.ingest.chunking import Chunk
from cdgpt.models.artifacts import load_artifacts
from cdgpt.models.registry import Manifest

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from cdgpt.index.embeddings import Embedder
    from cdgpt.models.store import ArtifactStore

CHUNK_FIELDS = {f.name for f in dataclasses.fields(Chunk)}


@dataclass(frozen=True)
class PreviousVersion:
    chunks: list[Chunk]
    vectors: dict[str, np.ndarray]  # by the hash of a chunk's indexed text; empty when another embedder made them


NO_PREVIOUS = PreviousVersion([], {})


def text_key(context: str) -> str:
    return hashlib.sha256(context.encode("utf-8", "surrogatepass")).hexdigest()


def stored_chunk(stored: dict[str, Any]) -> Chunk:
    """A Chunk from its docstore record (fields this version does not know are left out)."""
    fields = {k: v for k, v in stored.items() if k in CHUNK_FIELDS}
    return Chunk(**{**fields, "headings": tuple(stored.get("headings") or ())})


def load_previous(store: ArtifactStore, manifest: Manifest, embedder: Embedder) -> PreviousVersion:
    """The version's chunks, and its vectors when the same embedder made them; ModelDamaged if unreadable."""
    artifacts = load_artifacts(store, manifest)
    chunks = [stored_chunk(c) for c in artifacts.chunks]
    info = manifest.embedding
    if (info.provider, info.model) != (embedder.provider, embedder.model) or embedder.dim not in (0, info.dim):
        return PreviousVersion(chunks, {})
    vectors = artifacts.index.reconstruct_n(0, artifacts.index.ntotal)
    return PreviousVersion(chunks, {text_key(c.context): vectors[i] for i, c in enumerate(chunks)})


def reusable(store: ArtifactStore, manifest: Manifest | None, embedder: Embedder) -> PreviousVersion:
    """Like load_previous, but reuse only saves work: a version it cannot read means training from scratch."""
    if manifest is None:
        return NO_PREVIOUS
    try:
        return load_previous(store, manifest, embedder)
    except Exception:
        log.warning("cannot reuse the current version", extra={"model_name": manifest.model_name}, exc_info=True)
        return NO_PREVIOUS


def embed_chunks(
    chunks: list[Chunk], embedder: Embedder, known: dict[str, np.ndarray], progress: Callable[[int], None] | None
) -> tuple[np.ndarray, int]:
    """Vectors for every chunk, embedding only the texts `known` lacks; returns them and how many were embedded."""
    keys = [text_key(c.context) for c in chunks]
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
