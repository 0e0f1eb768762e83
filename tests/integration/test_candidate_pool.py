"""Under an approximate index, ranking only the candidates whose cosine was computed (the pool) gives
the same best chunks as ranking every chunk: every chunk outside the pool scores no more than the
pool's best by BM25 (by the question's, and by its glosses')."""

from __future__ import annotations

import random

import numpy as np
import pytest

from cdgpt.answer import retrieval
from cdgpt.answer.dictionary import english_glosses
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


CHINESE_WORDS = ["年假", "申请", "报销", "打印机", "密码", "网络", "停车", "食堂", "出差", "酒店", "发票", "预算"]


def trained_hnsw(root, monkeypatch, pages: list[str]):
    """A model of the pages (one document each), over the exact index's threshold (so HNSW)."""
    (root / "docs").mkdir(parents=True)
    for n, text in enumerate(pages):
        (root / f"docs/page{n:03}.md").write_text(f"# Page {n}\n\n{text}\n", "utf-8")
    settings = settings_with(monkeypatch, CDGPT_SOURCE_ROOT=str(root), CDGPT_EXACT_SEARCH_MAX_MB="0")
    from cdgpt.training.pipeline import train

    store = default_store(settings)
    train("m", ["docs"], settings=settings, store=store)
    model = load_model("m", store, settings)
    assert model.vector_index.kind == "hnsw" and len(model.chunks) >= 4 * CANDIDATES
    return model, settings


@pytest.fixture
def hnsw_model(tmp_path, monkeypatch):
    """500 short documents of office words."""
    rng = random.Random(7)
    pages = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))) + "." for _ in range(500)]
    return trained_hnsw(tmp_path / "src", monkeypatch, pages)


@pytest.fixture
def mixed_model(tmp_path, monkeypatch):
    """300 documents of office words in English and 300 in Chinese: glosses score only the English ones."""
    rng = random.Random(11)
    pages = [
        " ".join(rng.choices(WORDS, k=rng.randint(5, 30))) if n % 2 else "".join(rng.choices(CHINESE_WORDS, k=20))
        for n in range(600)
    ]
    return trained_hnsw(tmp_path / "src", monkeypatch, pages)


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


def test_the_pool_holds_the_best_chunks_with_a_chinese_questions_glosses(mixed_model):
    model, settings = mixed_model
    assert 0 < model.lexical.in_words.sum() < len(model.chunks)
    rng = random.Random(2)
    for _ in range(40):
        question = "怎么" + "".join(rng.sample(CHINESE_WORDS, rng.randint(1, 4))) + "？"
        glosses = english_glosses(question)
        vector = model.embedder.embed([question])[0]
        fused, cosine, pool = retrieval._fuse(model, question, vector, lexical_weight(model, settings), glosses)
        assert glosses and pool is not None
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
