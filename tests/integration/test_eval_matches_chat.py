"""`cdgpt eval` measures exactly what chat returns: the same sources in the same order, and the same refusals."""

from __future__ import annotations

import pytest

from cdgpt.answer.answering import NOT_COVERED, chat
from cdgpt.answer.evaluation import Case, evaluate, load_cases
from cdgpt.answer.retrieval import lexical_weight, load_model, search
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings
from cdgpt.training.pipeline import train
from tests.support import REPO

OFF_TOPIC = [
    "Who won the 1998 FIFA World Cup final?",
    "How long should I boil an egg for a runny yolk?",
    "红烧肉怎么做才好吃？",
    "明天北京会下雨吗？",
]


@pytest.fixture
def handbook(in_repo):
    train("handbook", ["samples/handbook"])
    return "handbook"


def every_question() -> list[Case]:
    return [*load_cases(REPO / "samples/questions.jsonl"), *(Case(q, None) for q in OFF_TOPIC)]


def test_eval_lists_the_sources_chat_returns_for_every_question(handbook):
    cases = every_question()
    report = evaluate(handbook, cases)
    assert report["k"] == get_settings().top_k
    assert len(report["answers"]) == len(cases)
    refused = 0
    for case, answer in zip(cases, report["answers"], strict=True):
        reply = chat(handbook, case.question)
        assert answer["question"] == case.question
        assert answer["sources"] == [s["source"] for s in reply["sources"]], case.question
        refused += reply["answer"] == NOT_COVERED
        assert (reply["answer"] == NOT_COVERED) == (reply["sources"] == [])
    answerable = [c for c in cases if c.expected_source]
    wrongly = sum(not a["sources"] for c, a in zip(cases, report["answers"], strict=True) if c.expected_source)
    assert report["wrongly_refused"] == round(wrongly / len(answerable), 4)
    assert refused == wrongly + round(report["not_covered"] * report["off_topic_questions"])
    assert report["not_covered"] == 1.0 and report["wrongly_refused"] == 0.0  # the samples are clear-cut


@pytest.mark.parametrize("k", [1, 2, 10])
def test_the_first_sources_do_not_depend_on_k(handbook, k):
    cases = every_question()
    chat_sources = [[s["source"] for s in chat(handbook, c.question)["sources"]] for c in cases]
    report = evaluate(handbook, cases, k=k)
    for listed, answer in zip(chat_sources, report["answers"], strict=True):
        n = min(k, len(listed))
        assert answer["sources"][:n] == listed[:n], answer["question"]
        assert len(answer["sources"]) == (
            0 if not listed else min(k, load_model(handbook, default_store(get_settings()), get_settings()).documents)
        )


def test_search_ranks_the_same_first_documents_and_chunks_for_every_k(handbook):
    settings = get_settings()
    model = load_model(handbook, default_store(settings), settings)
    for case in every_question():
        full = search(model, case.question, len(model.chunks), lexical_weight(model, settings))
        for k in range(1, model.documents + 2):
            results = search(model, case.question, k, lexical_weight(model, settings))
            assert [h.chunk["source"] for h in results.documents] == [h.chunk["source"] for h in full.documents[:k]]
            assert [id(h.chunk) for h in results.chunks] == [id(h.chunk) for h in full.chunks[:k]]
            assert results.evidence == full.evidence
