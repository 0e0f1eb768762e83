"""What a training takes from the version it replaces: its chunks, and their vectors by text.

A chunk whose indexed text is unchanged keeps its vector, so only new text is embedded. The previous
vectors stay in their memory-mapped index and are read batch by batch as they are needed.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cdgpt.ingest.chunking import Chunk, chunk_from_record
from cdgpt.models.artifacts import cache_folder, load_artifacts
from cdgpt.models.registry import Manifest
from cdgpt.settings import get_settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from cdgpt.index.docstore import Docstore
    from cdgpt.index.embeddings import Embedder
    from cdgpt.index.vectors import VectorIndex
    from cdgpt.models.store import ArtifactStore


@dataclass(frozen=True)
class PreviousVersion:
    chunks: list[Chunk]
    known: dict[str, int]  # the hash of a chunk's indexed text -> its row in `vectors`; empty for another embedder
    vectors: VectorIndex | None = None
    docstore: Docstore | None = None  # the version's chunks, read when asked for (unchanged documents reuse theirs)

    def lookup(self, keys: list[str]) -> np.ndarray:
        """The stored vectors of these known texts, in order."""
        assert self.vectors is not None
        return self.vectors.index.reconstruct_batch(np.array([self.known[k] for k in keys], dtype=np.int64))


NO_PREVIOUS = PreviousVersion([], {})


class DimensionChanged(Exception):
    """The embedding server now answers with another dimension than the stored vectors have."""


def text_key(context: str) -> str:
    return hashlib.sha256(context.encode("utf-8", "surrogatepass")).hexdigest()


TRAINING_CACHE = "training"  # the cache's folder of the one version trainings read (a worker's /tmp is not chat's)
_cache_lock = threading.Lock()


def _forget_all_but(root: Path, kept: Path) -> None:
    """Downloads of other models' and versions' (a warm worker trains one model after another; the files of
    a version still read keep their pages)."""
    for folder in root.glob("*/*/*"):
        if folder != kept and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


def load_previous(
    store: ArtifactStore, manifest: Manifest, embedder: Embedder, *, with_chunks: bool = True
) -> PreviousVersion:
    """The version's chunks (unless not wanted), and its vectors when the same embedder made them;
    ModelDamaged if unreadable."""
    with _cache_lock:
        root = get_settings().cache_dir / TRAINING_CACHE
        _forget_all_but(root, cache_folder(store, manifest, root))
        artifacts = load_artifacts(store, manifest, root, verify=True)
    info = manifest.embedding
    same = (info.provider, info.model) == (embedder.provider, embedder.model) and embedder.dim in (0, info.dim)
    if not same and not with_chunks:
        return PreviousVersion([], {}, docstore=artifacts.chunks)
    chunks, known = [], {}
    for i, record in enumerate(artifacts.chunks):
        chunk = chunk_from_record(record)
        if with_chunks:
            chunks.append(chunk)
        if same:
            known[text_key(chunk.context)] = i
    return PreviousVersion(chunks, known, artifacts.index if same else None, artifacts.chunks)


def reusable(store: ArtifactStore, manifest: Manifest | None, embedder: Embedder) -> PreviousVersion:
    """The vectors load_previous gives, but reuse only saves work: a version it cannot read means training
    from scratch."""
    if manifest is None:
        return NO_PREVIOUS
    try:
        return load_previous(store, manifest, embedder, with_chunks=False)
    except Exception:
        log.warning("cannot reuse the current version", extra={"model_name": manifest.model_name}, exc_info=True)
        return NO_PREVIOUS


def embed_batches(
    chunks: list[Chunk],
    embedder: Embedder,
    previous: PreviousVersion,
    batch: int,
    step: Callable[[int], None] | None = None,
) -> Iterator[tuple[np.ndarray, int]]:
    """Each batch of chunks' vectors, embedding only the texts `previous` lacks, and how many were embedded
    (`step` is the embedder's progress callback).

    DimensionChanged when new vectors do not have the stored ones' dimension (embed everything again)."""
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        keys = [text_key(c.context) for c in part] if previous.known else []  # nothing to look up: no hashing
        missing = [i for i, key in enumerate(keys) if key not in previous.known] if keys else list(range(len(part)))
        fresh = embedder.embed([part[i].context for i in missing], step) if missing else None
        if fresh is not None and previous.vectors is not None and fresh.shape[1] != previous.vectors.dim:
            raise DimensionChanged
        dim = fresh.shape[1] if fresh is not None else previous.vectors.dim  # type: ignore[union-attr]
        vectors = np.empty((len(part), dim), dtype=np.float32)
        if fresh is not None:
            vectors[missing] = fresh
        kept = [i for i, key in enumerate(keys) if key in previous.known]
        if kept:
            vectors[kept] = previous.lookup([keys[i] for i in kept])
        yield vectors, len(missing)
