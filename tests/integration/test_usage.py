"""Token usage: each chat and training reports what it used (the stub counts a word, or a CJK character,
as a token, and says 10 + 10 for every completion), daily totals per model in the store, `cdgpt usage`,
GET /models/{name}, and Powertools metrics with a `model` dimension."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from cdgpt import operations
from cdgpt.answer.answering import chat
from cdgpt.clients import reset_clients
from cdgpt.local.cli import main
from cdgpt.models.store import LocalStore, S3Store
from cdgpt.settings import get_settings
from cdgpt.training.jobs import JobRequest
from cdgpt.training.pipeline import train
from cdgpt.usage import Usage, add_usage, models_with_usage, summary
from tests.support import REPO, in_threads, settings_with
from tests.support.fixtures_openai import openai_stub  # noqa: F401
from tests.support.lambda_events import ROUTES, chat_handler, event, invoke, load_handler, route_event
from tests.support.openai_stub import TOKEN
from tests.support.sse import parse
from tests.support.states import template_invoker
from tests.support.stores import atomic_moto_puts

HANDBOOK = "samples/handbook"
QUESTION = "How many days of annual leave do I get?"
SECRET = "local-test-secret"
TEMPLATE = REPO / "template.yaml"


def stub_tokens(requests) -> int:
    """The tokens the stub counted in these embedding requests."""
    return sum(len(TOKEN.findall(text)) for r in requests for text in r.body["input"])


@pytest.fixture
def openai_model(openai_stub, monkeypatch):
    """The handbook embedded through the stub; every passage kept (the stub's vectors are not semantic)."""
    settings = settings_with(monkeypatch, CDGPT_SOURCE_ROOT=str(REPO), CDGPT_MIN_SCORE="-1", API_SECRET=SECRET)
    store = LocalStore(settings.data_dir)
    outcome = train("handbook", [HANDBOOK], settings=settings, store=store)
    return outcome, store


def test_a_training_reports_the_tokens_it_embedded(openai_model, openai_stub):
    outcome, _ = openai_model
    assert outcome.usage is not None
    assert outcome.usage.embedding_model == "text-embedding-3-small"
    assert outcome.usage.embedding_tokens == stub_tokens(openai_stub.embedding_requests) > 1000
    assert outcome.usage.llm_model is None


def test_a_chat_reports_embedding_and_completion_tokens_and_the_llm(openai_model, openai_stub):
    _, store = openai_model
    before = len(openai_stub.embedding_requests)
    result = chat("handbook", QUESTION, settings=get_settings(), store=store)
    assert result["usage"] == {
        "embedding_model": "text-embedding-3-small",
        "embedding_tokens": stub_tokens(openai_stub.embedding_requests[before:]),  # the question's
        "llm_model": "gpt-4o-mini",
        "prompt_tokens": 10,
        "completion_tokens": 10,
    }


def test_a_follow_up_counts_its_rewriting_call_too(openai_model):
    _, store = openai_model
    history = ["Human: Where is the IT helpdesk?", "Bot: On the first floor."]
    result = chat("handbook", "And its opening hours?", history, settings=get_settings(), store=store)
    assert (result["usage"]["prompt_tokens"], result["usage"]["completion_tokens"]) == (20, 20)


def test_daily_totals_add_up_trainings_and_chats(openai_model, openai_stub):
    _outcome, store = openai_model
    for _ in range(2):
        chat("handbook", QUESTION, settings=get_settings(), store=store)
    total = summary(store, "handbook").total
    assert (total.chats, total.trainings) == (2, 1)
    assert total.embedding_tokens == stub_tokens(openai_stub.embedding_requests)  # training and questions
    assert (total.prompt_tokens, total.completion_tokens) == (20, 20)
    assert total.llm_models == {"gpt-4o-mini": 40}
    assert (get_settings().data_dir / "counters.sqlite3").is_file() and store.keys("usage/") == []


@pytest.fixture(params=["local-folder", "bucket", "dynamodb"])
def totals_store(request, tmp_path, monkeypatch):
    """Where daily totals go: a local folder's SQLite table, records in a bucket without a table, or the
    stack's counter table (moto)."""
    if request.param == "local-folder":
        yield LocalStore(tmp_path)
        return
    with mock_aws():
        if request.param == "bucket":
            boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="artifacts")
            atomic_moto_puts(monkeypatch)
            reset_clients()
            yield S3Store("artifacts")
            reset_clients()
            return
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="counters",
            KeySchema=[{"AttributeName": "key_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "key_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv("CDGPT_RATE_TABLE", "counters")
        reset_clients()
        yield LocalStore(tmp_path)
        reset_clients()


def test_chats_and_trainings_add_up_per_model_and_day(totals_store):
    used = Usage(llm_model="m", prompt_tokens=3, completion_tokens=1, embedding_tokens=2)
    if get_settings().rate_table:  # one atomic ADD each: DynamoDB serialises them (moto's does not, under threads)
        for _ in range(8):
            add_usage(totals_store, "busy", used, chats=1)
    else:  # SQLite's transactions, or compare-and-swap on the day's record in a bucket: racing chats retry
        in_threads(8, lambda _: add_usage(totals_store, "busy", used, chats=1))
    add_usage(totals_store, "busy", Usage(embedding_tokens=50), trainings=1)
    add_usage(totals_store, "other", used, chats=1)
    report = summary(totals_store, "busy")
    total = report.total
    assert (total.chats, total.trainings, total.prompt_tokens, total.completion_tokens) == (8, 1, 24, 8)
    assert total.embedding_tokens == 66 and total.llm_models == {"m": 32}
    assert [d.date for d in report.days] == [datetime.now(UTC).date().isoformat()]
    assert models_with_usage(totals_store) == ["busy", "other"]


def test_only_a_bucket_without_a_table_holds_records(totals_store):
    add_usage(totals_store, "m", Usage(prompt_tokens=1), chats=1)
    in_store = totals_store.keys("usage/")
    assert in_store == ([f"usage/m/{datetime.now(UTC).date()}.json"] if isinstance(totals_store, S3Store) else [])


def test_a_local_folder_still_counts_its_earlier_records(tmp_path):
    store = LocalStore(tmp_path)
    today = datetime.now(UTC).date()
    earlier = {"format": 1, "chats": 5, "prompt_tokens": 7, "llm_models": {"m": 7}}
    store.put(f"usage/before/{today}.json", json.dumps(earlier).encode())
    add_usage(store, "before", Usage(llm_model="m", prompt_tokens=3), chats=1)
    add_usage(store, "after", Usage(), trainings=1)
    total = summary(store, "before").total
    assert (total.chats, total.prompt_tokens, total.llm_models) == (6, 10, {"m": 10})
    assert models_with_usage(store) == ["after", "before"]


def test_a_day_outside_the_window_is_left_out(tmp_path):
    store = LocalStore(tmp_path)
    store.put("usage/old/2020-01-01.json", json.dumps({"format": 1, "chats": 5}).encode())
    store.put("usage/old/not-a-date.json", b"{}")
    assert summary(store, "old").total.chats == 0
    assert summary(store, "old", days=366, today=datetime(2020, 6, 1).date()).total.chats == 5


def test_local_embeddings_are_not_counted(in_repo, capsys):
    assert main(["train", "--model", "handbook", HANDBOOK]) == 0
    assert main(["chat", "--model", "handbook", QUESTION]) == 0
    out, _err = capsys.readouterr()
    assert "25 days" in out and out.endswith("\nusage: embedding not counted (use-multilingual-v3-512)\n")
    assert main(["usage", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["model_name"] for r in report] == ["handbook"]
    assert report[0]["total"] | {"llm_models": None} == {
        "date": None,
        "chats": 1,
        "trainings": 1,
        "embedding_tokens": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "llm_models": None,
    }
    assert main(["usage"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["handbook", "1", "1", "0", "0", "0"]


def test_usage_of_a_name_never_trained_is_an_error_but_a_deleted_models_is_kept(in_repo, capsys):
    assert main(["usage", "handbok"]) == 1
    assert "model 'handbok' has not been trained" in capsys.readouterr().err
    assert main(["train", "--model", "handbook", HANDBOOK]) == 0
    assert main(["delete", "handbook"]) == 0
    capsys.readouterr()
    assert main(["usage", "handbook", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["total"]["trainings"] == 1


def test_cdgpt_chat_streams_an_llm_answer_to_the_terminal(openai_model, openai_stub, capsys, monkeypatch):
    monkeypatch.setenv("CDGPT_DATA_DIR", str(get_settings().data_dir))
    openai_stub.answer = "Twenty-five days [1]. 二十五天。"
    assert main(["chat", "--model", "handbook", QUESTION]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Twenty-five days [1]. 二十五天。\n")
    assert "gpt-4o-mini: 10 prompt + 10 completion tokens" in out
    assert openai_stub.chat_requests_of("answer")[-1].body["stream"] is True


def test_the_chat_handler_publishes_tokens_per_model_and_get_model_sums_them(openai_model, capsys):
    result = invoke(chat_handler, event("chat", body={"model_name": "handbook", "question": QUESTION}))
    assert result["statusCode"] == 200, result
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    per_model = [r for r in records if r["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["model", "service"]]]
    assert len(per_model) == 1 and per_model[0]["model"] == "handbook"
    assert (per_model[0]["PromptTokens"], per_model[0]["CompletionTokens"]) == ([10.0], [10.0])
    assert per_model[0]["EmbeddingTokens"][0] > 0

    described = invoke(
        load_handler(ROUTES["GET", "/models/{model_name}"]),
        route_event("GET", "/models/{model_name}", {"model_name": "handbook"}),
    )
    usage = json.loads(described["body"])["data"]["usage"]
    assert usage["model_name"] == "handbook" and usage["total"]["chats"] == 1 and usage["total"]["trainings"] == 1


def per_model_records(out: str) -> list[dict]:
    """The EMF records of the output that carry the `model` dimension."""
    records = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return [r for r in records if r["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["model", "service"]]]


def test_an_original_clients_chat_publishes_its_tokens_per_model_too(openai_model, capsys):
    capsys.readouterr()
    result = invoke(chat_handler, event("chat", body={"space_name": "handbook", "question": QUESTION}))
    assert result["statusCode"] == 200, result
    [record] = per_model_records(capsys.readouterr().out)
    assert record["model"] == "handbook" and (record["PromptTokens"], record["CompletionTokens"]) == ([10.0], [10.0])


def test_a_training_job_publishes_its_tokens_per_model(openai_model, openai_stub, capsys):
    request = JobRequest(kind="train", model_name="jobbed", file_list=[HANDBOOK])
    job_id = operations.start_job(request, run=False).job.job_id
    capsys.readouterr()
    assert template_invoker(TEMPLATE)("TrainWorkerFunction", {"job_id": job_id})["status"] == "succeeded"
    [record] = per_model_records(capsys.readouterr().out)
    assert record["model"] == "jobbed" and record["EmbeddingTokens"][0] > 1000 and "PromptTokens" not in record


def test_on_lambda_a_streamed_answer_is_one_body_of_the_same_events(openai_model, openai_stub):
    """API Gateway's proxy integration buffers: without a response sink the events come at once."""
    openai_stub.answer = "Twenty-five days [1]."
    body = {"model_name": "handbook", "question": QUESTION, "stream": True}
    result = invoke(chat_handler, event("chat", body=body))
    assert result["statusCode"] == 200
    assert result["multiValueHeaders"]["Content-Type"] == ["text/event-stream; charset=utf-8"]
    events = parse(result["body"])
    assert [name for name, _ in events][-1] == "done"
    assert "".join(data["text"] for name, data in events if name == "token") == "Twenty-five days [1]."
    assert events[-1][1]["data"]["answer"] == "Twenty-five days [1]."
    missing = invoke(chat_handler, event("chat", body={**body, "model_name": "nothing-here"}))
    assert missing["statusCode"] == 404 and json.loads(missing["body"])["code"] == 1  # failures stay JSON
