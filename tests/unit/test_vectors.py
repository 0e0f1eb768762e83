"""The vector index: exact below a size, HNSW above it, and what HNSW finds compared with exact search."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cdgpt.index.embeddings import LocalEmbedder
from cdgpt.index.vectors import VectorIndexBuilder, VectorIndexError, choose_kind, read_vector_index

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_the_kind_follows_the_bytes_an_exact_scan_would_read():
    # 32 MB of float32: ~5,400 chunks of 1,536 dimensions, ~32,700 of 256
    assert choose_kind(5_000, 1536, 32) == "exact" and choose_kind(6_000, 1536, 32) == "hnsw"
    assert choose_kind(32_000, 256, 32) == "exact" and choose_kind(33_000, 256, 32) == "hnsw"
    assert choose_kind(1, 8, 0) == "hnsw"


def build(tmp_path: Path, vectors: np.ndarray, exact_max_mb: float, name: str, batch: int = 500):
    builder = VectorIndexBuilder(len(vectors), exact_max_mb)
    for start in range(0, len(vectors), batch):
        builder.add(vectors[start : start + batch])
    builder.write(tmp_path / name)
    return read_vector_index(tmp_path / name)


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray]:
    """~1,500 overlapping passages of the sample handbook and its 15 questions, embedded locally."""
    words = " ".join(p.read_text("utf-8") for p in sorted((SAMPLES / "handbook").glob("*.*"))).split()
    passages = [" ".join(words[i : i + 30]) for i in range(0, len(words) - 30, 3)]
    questions = [json.loads(line)["question"] for line in (SAMPLES / "questions.jsonl").read_text().splitlines()]
    questions += [re.sub(r"\W+", " ", p) for p in passages[::40]]  # and some passages' words as questions
    embedder = LocalEmbedder()
    return embedder.embed(passages), embedder.embed(questions)


def test_hnsw_finds_what_exact_search_finds(tmp_path, corpus):
    vectors, questions = corpus
    exact = build(tmp_path, vectors, exact_max_mb=64, name="exact.faiss")
    approximate = build(tmp_path, vectors, exact_max_mb=0, name="hnsw.faiss")
    assert (exact.kind, approximate.kind) == ("exact", "hnsw")
    overlap = []
    for query in questions:
        truth, _ = exact.search(query, 10)
        found, found_cosines = approximate.search(query, 10)
        overlap.append(len(set(truth.tolist()) & set(found.tolist())) / 10)
        # the cosines it reports are exact to float16
        assert np.allclose(approximate.cosines(query, found), found_cosines, atol=1e-3)
        assert np.allclose(exact.cosines(query, found), found_cosines, atol=1e-3)
    assert np.mean(overlap) >= 0.99, np.mean(overlap)


def test_exact_gives_every_cosine_and_hnsw_finds_the_lowest(tmp_path, corpus):
    vectors, questions = corpus
    exact = build(tmp_path, vectors, exact_max_mb=64, name="exact.faiss")
    approximate = build(tmp_path, vectors, exact_max_mb=0, name="hnsw.faiss")
    query = questions[0]
    every = exact.all_cosines(query)
    assert every is not None and np.allclose(every, vectors @ query, atol=1e-5)
    assert approximate.all_cosines(query) is None
    assert exact.lowest_cosine(query) == pytest.approx(float(every.min()))
    # HNSW finds the chunk nearest to the opposite direction: a chunk's cosine, so never below the lowest,
    # and approximately the lowest itself (a cheap search: an error of 0.01 moves a vector part by ~2%)
    errors = [approximate.lowest_cosine(query) - float((vectors @ query).min()) for query in questions]
    assert min(errors) >= -1e-3 and np.mean(errors) < 0.01 and max(errors) < 0.1


def test_batches_do_not_change_an_exact_index(tmp_path, corpus):
    vectors, _ = corpus
    one = build(tmp_path, vectors, 64, "one.faiss", batch=len(vectors))
    many = build(tmp_path, vectors, 64, "many.faiss", batch=7)
    assert (tmp_path / "one.faiss").read_bytes() == (tmp_path / "many.faiss").read_bytes()
    assert np.array_equal(one.vectors(0, one.ntotal), many.vectors(0, many.ntotal))


def test_an_hnsw_graph_whose_search_would_start_below_its_top_level_is_refused(tmp_path, corpus):
    """Faiss would read past that vector's links (a crash, not an error): the graph's check refuses it."""
    import faiss

    vectors, _ = corpus
    build(tmp_path, vectors, exact_max_mb=0, name="hnsw.faiss")
    index = faiss.read_index(str(tmp_path / "hnsw.faiss"))
    levels = faiss.vector_to_array(index.hnsw.levels)
    assert levels[index.hnsw.entry_point] == levels.max() > levels.min()
    index.hnsw.entry_point = int(np.flatnonzero(levels < levels.max())[0])
    faiss.write_index(index, str(tmp_path / "damaged.faiss"))
    with pytest.raises(VectorIndexError, match="inconsistent"):
        read_vector_index(tmp_path / "damaged.faiss")
