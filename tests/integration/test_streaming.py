"""Streamed chat answers through `cdgpt serve`: server-sent events as the language model writes, the
usual result last, errors before and after the first event; the stub LLM spoken to by the real SDK."""

from __future__ import annotations

import pytest
import requests

from cdgpt.api.streaming import wants_events
from tests.support import check_envelope
from tests.support.openai_stub import OpenAIStub
from tests.support.serve import AUTH, serving
from tests.support.sse import events, parse

HANDBOOK = "samples/handbook"
QUESTION = "How many days of paid annual leave does a full-time employee get per year?"
ANSWER = "Full-time employees get 25 days of paid annual leave [1]. 全职员工每年有二十五天带薪年假 [1]。"
READ_TIMEOUT_S = 20  # a buffered reply would wait for the held stream (60 s) and fail here instead


@pytest.fixture(scope="module")
def stub():
    with OpenAIStub() as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory, stub):
    """`cdgpt serve` answering with the stub LLM; the handbook embedded locally (real retrieval)."""
    env = {"OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "test-key", "CDGPT_OPENAI_MAX_RETRIES": "0"}
    with serving(tmp_path_factory.mktemp("stream"), env=env) as server:
        response = server.post("/train", json={"model_name": "handbook", "file_list": [HANDBOOK]})
        assert response.status_code == 200, response.text
        yield server


@pytest.fixture
def answer(stub):
    stub.answer = ANSWER
    stub.break_streams = False
    yield ANSWER
    stub.release_streams()
    stub.answer = None


def ask(served, *, headers: dict[str, str] | None = None, **body) -> requests.Response:
    payload = {"model_name": "handbook", "question": QUESTION, **body}
    return served.session.post(
        served.url + "/chat",
        json=payload,
        headers={**AUTH, **(headers or {})},
        stream=True,
        timeout=(5, READ_TIMEOUT_S),
    )


def test_tokens_arrive_while_the_model_is_still_writing(served, stub, answer):
    stub.hold_streams()  # the stub sends its first word, then waits
    with ask(served, stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert "Content-Length" not in response.headers  # chunked: sent as written
        received = events(response.iter_lines(chunk_size=None, decode_unicode=True))
        name, first = next(received)
        assert (name, first) == ("token", {"text": "Full-time "})  # while the model is held mid-answer
        stub.release_streams()
        rest = list(received)
    tokens = [first["text"]] + [data["text"] for name, data in rest if name == "token"]
    assert [name for name, _ in rest][-1] == "done" and len(tokens) > 10
    done = check_envelope(rest[-1][1], 200)["data"]
    assert "".join(tokens) == done["answer"] == ANSWER
    assert done["sources"][0]["source"] == f"{HANDBOOK}/leave-and-holidays.md"
    assert done["history"][-2:] == [f"Human: {QUESTION}", f"Bot: {ANSWER}"]
    assert done["answer_mode"] == "llm" and done["search_queries"] == [QUESTION]
    assert done["usage"] == {
        "embedding_model": "use-multilingual-v3-512",
        "embedding_tokens": None,  # local embeddings are not counted
        "llm_model": "gpt-4o-mini",
        "prompt_tokens": 10,  # the stub's usage chunk
        "completion_tokens": 10,
    }
    streamed = stub.chat_requests_of("answer")[-1].body
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}


def test_accept_text_event_stream_asks_for_events_too(served, answer):
    with ask(served, headers={"Accept": "text/event-stream"}) as response:
        got = parse(response.text)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert got[-1][0] == "done" and got[-1][1]["data"]["answer"] == ANSWER
    # but the body's own "stream": false wins over the header
    with ask(served, headers={"Accept": "text/event-stream"}, stream=False) as response:
        assert check_envelope(response.json(), 200)["data"]["answer"] == ANSWER
    assert response.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("accept", "events"),
    [
        ("application/json, text/event-stream;q=0.5", True),
        ("Text/Event-Stream", True),
        ("text/event-stream;q=0", False),  # named only to be refused
        ("text/event-stream; q=0.0, application/json", False),
        ("*/*", False),
    ],
)
def test_an_accept_header_asks_for_events_unless_it_refuses_them(accept, events):
    assert wants_events(None, {"Accept": accept}) is events


def test_without_stream_the_answer_is_the_usual_json(served, answer):
    with ask(served) as response:
        data = check_envelope(response.json(), 200)["data"]
    assert response.headers["Content-Type"] == "application/json"
    assert data["answer"] == ANSWER and data["usage"]["completion_tokens"] == 10


def test_a_failure_before_the_first_event_keeps_its_status(served, answer):
    with ask(served, stream=True, model_name="nothing-here") as response:
        body = check_envelope(response.json(), 404)
    assert body["msg"] == "model 'nothing-here' has not been trained"


def test_a_failure_after_the_first_event_ends_the_stream_with_an_error_event(served, stub, answer):
    stub.break_streams = True
    with ask(served, stream=True) as response:
        got = parse(response.text)
    assert response.status_code == 200  # already sent with the first event
    assert got[0] == ("token", {"text": "Full-time "})
    assert got[-1] == ("error", {"code": 1, "msg": "the language model reported an error (APIError)", "data": None})
    stub.break_streams = False
    with ask(served, stream=True) as again:  # the worker whose answer failed takes the next one as usual
        assert parse(again.text)[-1][0] == "done"


def test_the_worker_serves_the_next_request_after_a_stream(served, answer):
    for _ in range(2):
        with ask(served, stream=True) as response:
            assert parse(response.text)[-1][0] == "done"
    with ask(served) as response:
        assert response.json()["data"]["answer"] == ANSWER
