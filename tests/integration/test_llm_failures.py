"""A language model that fails in the ways real servers do, spoken to by the real SDK (the stub server):
a stream that stops short, one that trickles past the request's time, a Retry-After longer than the time
left, a 200 that is no completion. Each is a clear UpstreamError (502) or UpstreamTimeout (504), in time."""

from __future__ import annotations

import pytest

from cdgpt import usage
from cdgpt.answer import llm
from cdgpt.clients import time_budget
from cdgpt.errors import UpstreamError, UpstreamTimeout
from cdgpt.settings import get_settings
from tests.support.fixtures_openai import openai_stub  # noqa: F401

MESSAGES = [{"role": "user", "content": "How many days of annual leave do I get?"}]
ANSWER = "Twenty-five days a year, and five of them may be carried over into the next year [1]."


def ask(*, stream: bool = False) -> tuple[str, list[str]]:
    pieces: list[str] = []
    text = llm.complete(MESSAGES, get_settings(), on_token=pieces.append if stream else None)
    return text, pieces


def test_a_stream_that_closes_before_its_end_is_an_error_not_a_short_answer(openai_stub):
    openai_stub.answer, openai_stub.cut_streams = ANSWER, True
    with pytest.raises(UpstreamError, match=r"^the language model's answer broke off$"):
        ask(stream=True)
    openai_stub.cut_streams = False
    assert ask(stream=True)[0] == ANSWER


def test_a_stream_that_trickles_past_the_time_left_is_cut_at_the_deadline(openai_stub):
    openai_stub.answer, openai_stub.stream_delay_s = ANSWER, 0.2  # 18 chunks: 3.6 s to write
    with time_budget(1.5), pytest.raises(UpstreamTimeout, match="did not finish its answer in time"):
        ask(stream=True)


def test_a_stream_waiting_on_a_read_is_cut_at_the_deadline_not_at_the_reads_timeout(openai_stub):
    """Each read may wait as long as the whole budget: a piece due after the deadline is never waited for."""
    openai_stub.answer, openai_stub.stream_delay_s = ANSWER, 2.0  # the first word comes at 4 s
    pieces: list[str] = []
    with time_budget(3), pytest.raises(UpstreamTimeout, match="did not finish its answer in time"):
        llm.complete(MESSAGES, get_settings(), on_token=pieces.append)
    assert pieces == []  # cut at 3 s, before the first word; read on, it would have come at 4 s


def test_a_retry_after_longer_than_the_time_left_is_not_waited_for(openai_stub):
    openai_stub.fail_next(429, times=5, **{"retry-after-ms": "30000"})
    with time_budget(10), pytest.raises(UpstreamError, match=r"^the language model answered HTTP 429$"):
        ask()
    assert len(openai_stub.chat_requests) == 1  # the SDK would have slept 30 s, twice
    openai_stub.clear_failures()
    openai_stub.fail_next(429, **{"retry-after-ms": "10"})  # a short wait fits: retried, answered
    with time_budget(10):
        assert ask()[0]
    assert len(openai_stub.chat_requests) == 3


def test_a_200_that_is_not_a_completion_is_an_upstream_error(openai_stub):
    openai_stub.fail_next(200, body=b"<html>Sign in to the proxy</html>", **{"content-type": "text/html"})
    with pytest.raises(UpstreamError, match=r"^the language model answered something other than a chat completion$"):
        ask()
    openai_stub.fail_next(200, body=b'{"choices": [')
    with pytest.raises(UpstreamError, match=r"^the language model answered with broken JSON$"):
        ask()


def test_a_refusal_that_is_not_retried_does_not_say_it_was(openai_stub):
    openai_stub.fail_next(400)
    with pytest.raises(UpstreamError, match=r"^the language model answered HTTP 400$"):
        ask()
    assert len(openai_stub.chat_requests) == 1


def test_a_streamed_answer_without_a_usage_chunk_still_names_its_model(openai_stub):
    openai_stub.answer, openai_stub.stream_usage = ANSWER, False
    with usage.metering() as used:
        text, pieces = ask(stream=True)
    assert "".join(pieces) == text == ANSWER
    assert (used.llm_model, used.prompt_tokens) == (get_settings().chat_model, 0)


@pytest.mark.parametrize("stream", [False, True])
def test_a_lone_surrogate_in_the_answer_is_replaced_not_passed_on(openai_stub, stream):
    """JSON may escape half a UTF-16 pair (\\ud800); such text cannot be written as UTF-8 (a stream, a reply,
    a kept conversation would fail on it)."""
    openai_stub.answer = "Twenty-five days \ud800 a year [1]."
    text, pieces = ask(stream=stream)
    assert text == "Twenty-five days \ufffd a year [1]."
    assert "".join(pieces).encode() == (text.encode() if stream else b"")
