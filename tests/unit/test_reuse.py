"""Incremental retraining: which chunks keep their vectors."""

from __future__ import annotations

import numpy as np

from cdgpt.ingest.chunking import Chunk
from cdgpt.training.reuse import embed_chunks, text_key


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


def test_known_text_keeps_its_vector_and_only_new_text_is_embedded():
    known = {text_key(chunk("old").context): np.full(4, 0.5, dtype=np.float32)}
    embedder = FixedEmbedder(4)
    vectors, embedded = embed_chunks([chunk("old"), chunk("new")], embedder, known, None)
    assert embedded == embedder.embedded == 1
    assert np.array_equal(vectors[0], np.full(4, 0.5, dtype=np.float32))


def test_a_server_whose_dimension_changed_gets_everything_embedded_again():
    # Given vectors of 4 dimensions from the previous version, and a server now answering with 8
    known = {text_key(chunk("old").context): np.full(4, 0.5, dtype=np.float32)}
    embedder = FixedEmbedder(8)
    # When the chunks are embedded, then none of the old vectors is mixed in
    vectors, embedded = embed_chunks([chunk("old"), chunk("new")], embedder, known, None)
    assert vectors.shape == (2, 8) and embedded == 2
