"""Under an approximate index, ranking only the candidates whose cosine was computed (the pool) gives
the same best chunks as ranking every chunk: every chunk outside the pool scores no more than the
pool's best by BM25 (by the question's, and by its glosses')."""

from __future__ import annotations

import random

import numpy as np
import pytest

from cdgpt.answer import retrieval
from cdgpt.answer.retrieval import CANDIDATES, lexical_weight, load_model, search
from cdgpt.models.store import default_store
from tests.support import settings_with

WORDS = [
    "leave",
    "holiday",
    "expense",
    "receipt",
    "laptop",
    "password",
    "printer",
    "network",
    "badge",
    "parking",
    "canteen",
    "travel",
    "hotel",
    "invoice",
    "budget",
    "contract",
    "payroll",
    "pension",
    "insurance",
    "training",
    "course",
    "manager",
    "review",
    "salary",
    "bonus",
    "office",
    "desk",
    "meeting",
    "room",
    "booking",
    "visitor",
    "guest",
    "security",
    "alarm",
    "fire",
    "drill",
    "first",
    "aid",
    "doctor",
    "sick",
]


@pytest.fixture
def hnsw_model(tmp_path, monkeypatch):
    """500 short documents of office words, over the exact index's threshold (so HNSW)."""
    rng = random.Random(7)
    root = tmp_path / "src"
    (root / "docs").mkdir(parents=True)
    for n in range(500):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 30))]
        (root / f"docs/page{n:03}.md").write_text(f"# Page {n}\n\n{' '.join(words)}.\n", "utf-8")
    settings = settings_with(monkeypatch, CDGPT_SOURCE_ROOT=str(root), CDGPT_EXACT_SEARCH_MAX_MB="0")
    from cdgpt.training.pipeline import train

    store = default_store(settings)
    train("m", ["docs"], settings=settings, store=store)
    model = load_model("m", store, settings)
    assert model.vector_index.kind == "hnsw" and len(model.chunks) >= 4 * CANDIDATES
    return model, settings


def test_the_pool_holds_the_best_chunks_of_every_chunk(hnsw_model):
    model, settings = hnsw_model
    rng = random.Random(3)
    questions = [" ".join(rng.sample(WORDS, rng.randint(1, 4))) for _ in range(60)] + ["zebra quantum"]
    for n, question in enumerate(questions):
        vector = model.embedder.embed([question])[0]
        glosses = " ".join(rng.sample(WORDS, 3)) if n % 2 else None  # a Chinese question's, in other words
        fused, cosine, pool = retrieval._fuse(model, question, vector, lexical_weight(model, settings), glosses)
        assert pool is not None and len(pool) < len(fused)
        assert np.array_equal(
            retrieval._best(fused, cosine, CANDIDATES, pool), retrieval._best(fused, cosine, CANDIDATES)
        )


def test_a_search_that_needs_more_than_the_pool_ranks_every_chunk(hnsw_model, monkeypatch):
    """One long document can fill the pool; the search then looks past it for distinct documents."""
    model, settings = hnsw_model
    ranked_with: list[bool] = []
    best = retrieval._best
    monkeypatch.setattr(retrieval, "_best", lambda *a: ranked_with.append(a[3] is None) or best(*a))
    results = search(model, "leave holiday", 60, lexical_weight(model, settings))  # k=60 asks for 480 candidates
    assert len(results.documents) == 60 and ranked_with == [True]
    ranked_with.clear()
    search(model, "leave holiday", 4, lexical_weight(model, settings))
    assert ranked_with == [False]
