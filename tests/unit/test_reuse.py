"""Incremental retraining: which chunks keep their vectors."""

from __future__ import annotations

import numpy as np
import pytest

from cdgpt.index.vectors import VectorIndexBuilder, read_vector_index
from cdgpt.ingest.chunking import Chunk
from cdgpt.training.reuse import DimensionChanged, PreviousVersion, embed_batches, text_key


class FixedEmbedder:
    """Returns unit vectors of a given dimension, counting the texts it embeds."""

    provider, model = "openai", "text-embedding-3-small"

    def __init__(self, dim: int) -> None:
        self.dim, self.embedded = dim, 0

    def embed(self, texts, progress=None):
        self.embedded += len(texts)
        return np.ones((len(texts), self.dim), dtype=np.float32) / np.sqrt(self.dim)


def chunk(text: str) -> Chunk:
    return Chunk("doc.md", "Doc", ("Intro",), 0, text)


def previous_with(tmp_path, texts: list[str], vectors: np.ndarray) -> PreviousVersion:
    """A previous version whose stored (memory-mapped) index holds these texts' vectors."""
    builder = VectorIndexBuilder(len(texts), exact_max_mb=1)
    builder.add(vectors)
    builder.write(tmp_path / "index.faiss")
    known = {text_key(chunk(t).context): i for i, t in enumerate(texts)}
    return PreviousVersion([chunk(t) for t in texts], known, read_vector_index(tmp_path / "index.faiss"))


def test_known_text_keeps_its_vector_and_only_new_text_is_embedded(tmp_path):
    stored = np.array([[0.6, 0.8, 0, 0], [0, 0, 1, 0]], dtype=np.float32)
    previous = previous_with(tmp_path, ["old", "older"], stored)
    embedder = FixedEmbedder(4)
    chunks = [chunk("new"), chunk("older"), chunk("old")]
    batches = list(embed_batches(chunks, embedder, previous, batch=2))
    assert [fresh for _, fresh in batches] == [1, 0] and embedder.embedded == 1
    vectors = np.vstack([v for v, _ in batches])
    assert np.allclose(vectors[0], 0.5) and np.array_equal(vectors[1:], stored[::-1])


def test_a_server_whose_dimension_changed_is_reported(tmp_path):
    # Given vectors of 4 dimensions from the previous version, and a server now answering with 8
    previous = previous_with(tmp_path, ["old"], np.array([[1, 0, 0, 0]], dtype=np.float32))
    # When new text is embedded, then training is told to embed everything again
    with pytest.raises(DimensionChanged):
        list(embed_batches([chunk("old"), chunk("new")], FixedEmbedder(8), previous, batch=10))
