"""The vector index: cosine over unit vectors, exact for small models and approximate above a size.

- exact: a Faiss `IndexFlatIP` (float32): every query scans every vector, and every chunk's cosine is
  one matrix-vector product;
- approximate: a Faiss `IndexHNSWSQ` (an HNSW graph over float16 vectors): a query compares a few
  thousand vectors whatever the model's size; the cosine of any chunk is still exact to float16.

Both are stored in Faiss's own binary format and read memory-mapped (`IO_FLAG_MMAP_IFC`): loading
copies no vector, and a query touches only the pages it compares. An HNSW graph is checked when
loaded, so a damaged file is reported rather than followed out of bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import faiss

Kind = Literal["exact", "hnsw"]
HNSW_M = 32  # graph degree (64 links per vector on the bottom layer)
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 64  # candidates explored per query; a search for more explores as many as it asks for
HNSW_EF_OPPOSITE = 32  # for the one chunk farthest from a query (its cosine is the lowest)


class VectorIndexError(ValueError):
    """The file is not a usable vector index."""


def choose_kind(chunks: int, dim: int, exact_max_mb: float) -> Kind:
    """Exact while a query's scan (chunks x dimensions float32) stays under exact_max_mb, else HNSW."""
    return "exact" if chunks * dim * 4 <= exact_max_mb * 1024 * 1024 else "hnsw"


class VectorIndexBuilder:
    """Vectors added batch by batch, then written to a file. The kind is chosen by the model's size
    when the first batch brings the dimension."""

    def __init__(self, total: int, exact_max_mb: float) -> None:
        self.total, self.exact_max_mb = total, exact_max_mb
        self._index: Any = None

    def add(self, vectors: np.ndarray) -> None:
        import faiss

        if self._index is None:
            dim = vectors.shape[1]
            if choose_kind(self.total, dim, self.exact_max_mb) == "exact":
                self._index = faiss.IndexFlatIP(dim)
            else:
                fp16: Any = faiss.ScalarQuantizer.QT_fp16
                index = faiss.IndexHNSWSQ(dim, fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
                index.train(np.zeros((1, dim), dtype=np.float32))  # float16 needs no training
                self._index = index
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    @property
    def dim(self) -> int:
        return 0 if self._index is None else self._index.d

    def write(self, path: Path) -> None:
        import faiss

        if self._index is None:
            raise ValueError("no vectors were added")
        faiss.write_index(self._index, str(path))
        self._index = None  # its memory goes now: publishing reads the file


@dataclass(frozen=True)
class VectorIndex:
    """A loaded index: the nearest chunks of a query, and the cosine of any chunk."""

    index: faiss.Index  # Faiss's own object (search, reconstruct_batch), memory-mapped
    kind: Kind

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def search(self, query: np.ndarray, n: int, effort: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The n chunks closest to the query, best first: (ids, cosines). `effort`: HNSW's efSearch."""
        import faiss

        n = min(n, self.ntotal)
        if n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        hnsw_params: Any = getattr(faiss, "SearchParametersHNSW")  # noqa: B009 (missing from Faiss's type stubs)
        params = hnsw_params(efSearch=effort) if effort and self.kind == "hnsw" else None
        scores, ids = self.index.search(query.reshape(1, -1).astype(np.float32, copy=False), n, params=params)
        found = ids[0] >= 0
        return ids[0][found], scores[0][found]

    def cosines(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The cosine of each given chunk and the query (float16 precision under HNSW)."""
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64)) @ query

    def all_cosines(self, query: np.ndarray) -> np.ndarray | None:
        """Every chunk's cosine (one matrix-vector product) when the index is exact; None under HNSW."""
        if self.kind != "exact":
            return None
        return self.matrix() @ query

    def lowest_cosine(self, query: np.ndarray) -> float:
        """The query's lowest cosine over all chunks: exact under an exact index; under HNSW, the nearest
        chunk to the opposite direction (whose cosine is the lowest), found approximately."""
        every = self.all_cosines(query)
        if every is not None:
            return float(every.min()) if len(every) else 0.0
        _, opposite = self.search(-query, 1, effort=HNSW_EF_OPPOSITE)
        return -float(opposite[0]) if len(opposite) else 0.0

    def matrix(self) -> np.ndarray:
        """An exact index's vectors as an array sharing its (memory-mapped) storage."""
        import faiss

        if self.kind != "exact":
            raise ValueError("only an exact index holds float32 vectors")
        if not self.ntotal:
            return np.zeros((0, self.dim), dtype=np.float32)
        flat: Any = faiss.downcast_index(self.index)
        return faiss.rev_swig_ptr(flat.get_xb(), self.ntotal * self.dim).reshape(self.ntotal, self.dim)

    def vectors(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop as float32 (a copy)."""
        return self.index.reconstruct_n(start, stop - start) if stop > start else np.zeros((0, self.dim), np.float32)


def read_vector_index(path: Path) -> VectorIndex:
    """The index in the file, memory-mapped; VectorIndexError when it is not a sound index."""
    import faiss

    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    except RuntimeError as exc:  # Faiss's complaint about a file it cannot parse
        raise VectorIndexError(f"cannot read the vector index: {str(exc).splitlines()[0][:200]}") from exc
    if isinstance(index, faiss.IndexFlatIP):
        return VectorIndex(index, "exact")
    if isinstance(index, faiss.IndexHNSWSQ):
        _check_graph(index)
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return VectorIndex(index, "hnsw")
    raise VectorIndexError(f"unexpected vector index type {type(index).__name__}")


def _view(vector: Any) -> np.ndarray:
    """A Faiss vector's contents as an array sharing its memory (no copy)."""
    import faiss

    return faiss.rev_swig_ptr(vector.data(), vector.size()) if vector.size() else np.zeros(0, dtype=np.int64)


def _check_graph(index: Any) -> None:
    """Faiss follows the graph's links without bounds checks: every one must name a stored vector."""
    import faiss

    hnsw, n = index.hnsw, index.ntotal
    storage: Any = faiss.downcast_index(index.storage)
    levels, offsets, neighbors, per_level = (
        _view(v) for v in (hnsw.levels, hnsw.offsets, hnsw.neighbors, hnsw.cum_nneighbor_per_level)
    )
    if not n or storage.ntotal != n or storage.code_size != 2 * index.d or len(levels) != n or len(offsets) != n + 1:
        raise VectorIndexError("the vector index's graph does not match its vectors")
    sound = (
        0 <= hnsw.entry_point < n
        and levels.min() >= 1
        and int(levels.max()) == hnsw.max_level + 1 == int(levels[hnsw.entry_point])  # the search starts on top
        and len(per_level) > hnsw.max_level + 1
        and offsets[0] == 0
        and offsets[-1] == len(neighbors)
        and np.array_equal(np.diff(offsets), per_level[levels])
        and neighbors.min() >= -1
        and neighbors.max() < n
    )
    if not sound:
        raise VectorIndexError("the vector index's graph is inconsistent")
