"""The vector index: Faiss inner product over unit vectors (cosine), stored in Faiss's own binary format."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import faiss
    import numpy as np


def build_vector_index(vectors: np.ndarray) -> faiss.Index:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def vector_index_to_bytes(index: faiss.Index) -> bytes:
    import faiss

    return faiss.serialize_index(index).tobytes()


def vector_index_from_bytes(data: bytes) -> faiss.Index:
    import faiss
    import numpy as np

    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))


def search_vectors(index: faiss.Index, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(chunk id, cosine score) pairs, best first."""
    scores, ids = index.search(query.reshape(1, -1), min(k, index.ntotal))
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
