"""A reranking server (Cohere's rerank API) orders the first documents chat finds; without one, or when
it fails, the fused order stands. `cdgpt eval` measures the same order as chat."""

from __future__ import annotations

import logging

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from cdgpt.answer import reranking
from cdgpt.answer.answering import NOT_COVERED, chat
from cdgpt.answer.evaluation import Case, evaluate
from cdgpt.clients import reset_clients
from cdgpt.secrets import rerank_key
from cdgpt.settings import Settings
from cdgpt.training.pipeline import train
from tests.support.rerank_stub import RerankStub

LEAVE = "How many days of paid annual leave does a full-time employee get per year?"
OFF_TOPIC = "Who won the 1998 FIFA World Cup final?"


@pytest.fixture
def handbook(in_repo):
    train("handbook", ["samples/handbook"])
    return "handbook"


@pytest.fixture
def stub(monkeypatch):
    with RerankStub() as server:
        monkeypatch.setenv("CDGPT_RERANK_URL", server.url)
        monkeypatch.setenv("CDGPT_RERANK_MODEL", "bge-reranker-v2-m3")
        monkeypatch.setenv("CDGPT_RERANK_API_KEY", "rerank-key")
        reset_clients()
        yield server


def sources(question: str) -> list[str]:
    return [s["source"] for s in chat("handbook", question)["sources"]]


def test_the_server_orders_the_first_documents_and_eval_measures_that_order(handbook, monkeypatch):
    fused = sources(LEAVE)
    assert fused[0] == "samples/handbook/leave-and-holidays.md"
    with RerankStub(favoured="Remote and Hybrid Working") as server:
        monkeypatch.setenv("CDGPT_RERANK_URL", server.url)
        monkeypatch.setenv("CDGPT_RERANK_API_KEY", "rerank-key")
        reset_clients()
        reranked = sources(LEAVE)
        sent = server.requests[0]
        report = evaluate("handbook", [Case(LEAVE, "leave-and-holidays.md")], k=2)
    assert reranked[0] == "samples/handbook/remote-work.md"
    assert reranked[1:] == [s for s in fused if s != reranked[0]][:3]  # the others keep their order
    # the question and every document's best passage (the handbook has 9), its title and headings first
    assert sent.body["query"] == LEAVE and sent.body["top_n"] == len(sent.body["documents"]) == 9
    assert "model" not in sent.body  # none configured: the server's own
    assert sent.body["documents"][0].startswith("Leave and Holidays Policy")
    assert sent.headers["authorization"] == "Bearer rerank-key"
    assert report["answers"][0]["sources"] == reranked[:2] and report["recall_at_1"] == 0.0


def test_an_uncovered_question_is_not_sent(handbook, stub):
    assert chat("handbook", OFF_TOPIC)["answer"] == NOT_COVERED
    assert stub.requests == []


def test_the_model_is_named_when_configured(handbook, stub):
    sources(LEAVE)
    assert stub.requests[0].body["model"] == "bge-reranker-v2-m3"


@pytest.mark.parametrize(
    "failure",
    ["status", "not a result", "unknown document", "too slow"],
)
def test_a_failing_server_leaves_the_fused_order(handbook, stub, monkeypatch, caplog, failure):
    stub.favoured = "Remote and Hybrid Working"
    monkeypatch.delenv("CDGPT_RERANK_URL")
    reset_clients()
    fused = sources(LEAVE)
    monkeypatch.setenv("CDGPT_RERANK_URL", stub.url)
    reset_clients()
    if failure == "status":
        stub.status = 503
    elif failure == "not a result":
        stub.reply = {"data": []}
    elif failure == "unknown document":
        stub.reply = {"results": [{"index": 40, "relevance_score": 1.0}]}
    else:
        stub.hold()
        monkeypatch.setattr(reranking, "TIMEOUT_S", 0.2)
    with caplog.at_level(logging.WARNING, logger="cdgpt.answer.reranking"):
        assert sources(LEAVE) == fused
    stub.release()
    assert len(stub.requests) == 1
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "cdgpt.answer.reranking"]
    assert warning.startswith("reranking skipped: the server") and "leave" not in warning.lower()


def test_documents_the_server_leaves_out_follow_in_their_order(handbook, stub):
    stub.reply = {"results": [{"index": 2, "relevance_score": 0.9}]}
    listed = sources(LEAVE)
    stub.reply = None
    stub.status = 503
    fused = sources(LEAVE)
    assert listed == [fused[2], *(s for s in fused if s != fused[2])][:4]


def test_the_key_can_come_from_ssm(monkeypatch):
    with mock_aws():
        boto3.client("ssm").put_parameter(Name="/cdgpt/rerank-key", Value="from-ssm", Type="SecureString")
        monkeypatch.setenv("CDGPT_RERANK_API_KEY_PARAM", "/cdgpt/rerank-key")
        reset_clients()
        assert rerank_key() == "from-ssm"


def test_only_an_http_url_is_a_reranking_server():
    with pytest.raises(ValidationError, match="CDGPT_RERANK_URL"):
        Settings(CDGPT_RERANK_URL="file:///etc/passwd")
    assert Settings(CDGPT_RERANK_URL="https://api.cohere.com/v2/rerank").rerank_url


def test_the_first_reranked_sources_do_not_depend_on_k(handbook, stub):
    stub.favoured = "Remote and Hybrid Working"
    listed = sources(LEAVE)
    for k in (1, 2, 10):
        (answer,) = evaluate("handbook", [Case(LEAVE, "leave-and-holidays.md")], k=k)["answers"]
        n = min(k, len(listed))
        assert answer["sources"][:n] == listed[:n] and len(answer["sources"]) == min(k, 9)
