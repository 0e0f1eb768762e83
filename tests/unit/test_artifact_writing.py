"""Writing a version's files: the texts' files (docstore, BM25) while the vectors are being embedded."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from cdgpt.index.vectors import read_vector_index
from cdgpt.ingest.chunking import Chunk
from cdgpt.settings import Settings
from cdgpt.training.pipeline import Abandoned, ArtifactWriter, write_artifacts
from cdgpt.training.reuse import NO_PREVIOUS
from cdgpt.usage import metering, record_embedding

DIM = 8


class WaitingEmbedder:
    """Embeds text "n" as the n-th unit vector, once the texts' files are finished (or 30 s passed),
    recording each text as a token in the caller's usage meter."""

    provider, model = "openai", "text-embedding-3-small"

    def __init__(self, texts_done: threading.Event) -> None:
        self.texts_done = texts_done
        self.found_texts_done: list[bool] = []

    def embed(self, texts, progress=None):
        self.found_texts_done.append(self.texts_done.wait(timeout=30))
        record_embedding(self.model, len(texts))
        return np.eye(DIM, dtype=np.float32)[[int(t.rsplit(" ", 1)[1]) for t in texts]]


def test_the_texts_files_are_written_while_the_first_batch_is_embedded(tmp_path, monkeypatch):
    texts_done = threading.Event()
    finish_texts = ArtifactWriter.finish_texts

    def finishing(writer):
        finish_texts(writer)
        texts_done.set()

    monkeypatch.setattr(ArtifactWriter, "finish_texts", finishing)
    embedder = WaitingEmbedder(texts_done)
    chunks = [Chunk("doc.md", "Doc", (), i, f"text {i}") for i in range(5)]
    steps: list[int] = []
    with metering() as used:
        built = write_artifacts(
            tmp_path, chunks, embedder, NO_PREVIOUS, Settings(), lambda _, n, total: steps.append(n), batch=2
        )
    # The first batch's embedding waited for the texts' files, which therefore did not wait for it
    assert embedder.found_texts_done == [True, True, True]
    assert steps == [0, 2, 2, 1] and built.chunks == built.embedded == 5  # the stage is announced as it begins
    assert used.embedding_tokens == 5  # embedded on another thread, metered in the caller's context
    index = read_vector_index(built.files["index"])  # kept: the matrix shares its storage
    assert np.array_equal(index.matrix(), np.eye(DIM, dtype=np.float32)[:5])  # in the chunks' order
    lines = built.files["docstore"].read_text("utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == [f"text {i}" for i in range(5)]


class EndlessEmbedder:
    """Embeds the first batch at once; the next one takes steps (reporting progress) until told to stop."""

    provider, model = "openai", "text-embedding-3-small"
    MAX_STEPS = 10_000_000

    def __init__(self) -> None:
        self.calls = 0
        self.stopped_after: int | None = None
        self.second_begun = threading.Event()

    def embed(self, texts, progress=None):
        self.calls += 1
        if self.calls > 1:
            self.second_begun.set()
        for steps in range(self.MAX_STEPS if self.calls > 1 else 0):
            try:
                progress(1)
            except Abandoned:
                self.stopped_after = steps
                raise
        return np.eye(DIM, dtype=np.float32)[: len(texts)]


def test_leaving_early_stops_the_next_batch_at_its_next_step(tmp_path):
    # Given a training whose progress callback fails after the first batch (a job lost, time running out)
    embedder = EndlessEmbedder()

    def failing(stage, advance, total):
        if not advance:  # the stage's start
            return
        assert embedder.second_begun.wait(timeout=30)  # the next batch is being embedded meanwhile
        raise RuntimeError("the job was lost")

    chunks = [Chunk("doc.md", "Doc", (), i, f"text {i}") for i in range(4)]
    with pytest.raises(RuntimeError, match="the job was lost"):
        write_artifacts(tmp_path, chunks, embedder, NO_PREVIOUS, Settings(), failing, batch=2)
    # Then the batch being embedded on the other thread was abandoned at a step, not embedded to its end
    assert embedder.calls == 2 and embedder.stopped_after is not None
    assert embedder.stopped_after < EndlessEmbedder.MAX_STEPS
