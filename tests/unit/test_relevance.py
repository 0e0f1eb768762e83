"""The relevance decision: the best cosine, and for the local embedder the question's own terms too."""

from __future__ import annotations

import pytest

from cdgpt.answer.relevance import LOCAL_CJK_SIMILARITY, MIN_KNOWN, MIN_SIMILARITY, Evidence, covers, mostly_cjk


@pytest.mark.parametrize(
    ("question", "cjk"),
    [("怎么打印工作表？", True), ("Calc 里怎么冻结首行", True), ("How do I print a PDF 文件?", False), ("???", False)],
)
def test_mostly_cjk(question, cjk):
    assert mostly_cjk(question) is cjk


def test_openai_embeddings_decide_by_cosine_alone():
    assert covers(Evidence(MIN_SIMILARITY["openai"], 0.0), "any question", "openai")
    assert not covers(Evidence(MIN_SIMILARITY["openai"] - 0.01, 1.0), "any question", "openai")
    assert covers(Evidence(0.1, 0.0), "any question", "openai", min_score=0.1)


def test_local_embedder_needs_the_cosine_and_the_questions_own_terms():
    floor = MIN_SIMILARITY["local"]
    assert covers(Evidence(floor, MIN_KNOWN), "How do I print?", "local")
    assert not covers(Evidence(floor - 0.01, 1.0), "How do I print?", "local")
    assert not covers(Evidence(0.9, MIN_KNOWN - 0.01), "How do I print?", "local")


def test_a_chinese_question_needs_a_higher_cosine_with_the_local_embedder():
    assert not covers(Evidence(LOCAL_CJK_SIMILARITY - 0.01, 1.0), "怎么打印工作表？", "local")
    assert covers(Evidence(LOCAL_CJK_SIMILARITY, 1.0), "怎么打印工作表？", "local")
    assert covers(Evidence(0.3, 1.0), "怎么打印工作表？", "local", min_score=0.3)  # CDGPT_MIN_SCORE replaces it
