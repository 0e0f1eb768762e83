"""One chat completion from the OpenAI-compatible server, its failures as domain errors."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from cdgpt import usage
from cdgpt.errors import UpstreamError, UpstreamTimeout
from cdgpt.index.terms import without_surrogates
from cdgpt.settings import Settings

SHORT_CALL_S = 8.0  # a short call (rewriting, translating) gets at most this long,
SHORT_CALL_SHARE = 0.3  # and at most this share of the request's time left: the answer needs the rest


def complete(
    messages: list[Any],
    settings: Settings,
    *,
    max_tokens: int | None = None,
    short: bool = False,
    temperature: float = 0.2,
    on_token: Callable[[str], None] | None = None,
) -> str:
    """The model's reply; UpstreamTimeout or UpstreamError when it fails or answers nothing.

    Calls are bounded by the request's time budget (`clients.openai_for_request`); a `short` one by
    its own smaller budget, so that the answer's call keeps most of the time. With `on_token` the
    reply is streamed: each piece of text is passed to it as it arrives, and the whole is returned.
    """
    from cdgpt.clients import time_budget, time_left

    if not short:
        return _complete(messages, settings, max_tokens, temperature, on_token)
    left = time_left()
    with time_budget(SHORT_CALL_S if left is None else min(SHORT_CALL_S, SHORT_CALL_SHARE * left)):
        return _complete(messages, settings, max_tokens, temperature, on_token)


def _complete(
    messages: list[Any],
    settings: Settings,
    max_tokens: int | None,
    temperature: float,
    on_token: Callable[[str], None] | None,
) -> str:
    """complete's call, within whatever time budget is current (its retries, waits and stream included)."""
    from cdgpt.clients import openai_errors, openai_for_request

    client = openai_for_request()
    options: dict[str, Any] = {"max_tokens": max_tokens} if max_tokens else {}
    with openai_errors("the language model", client.max_retries):
        if on_token is not None:
            text = _streamed(client, settings.chat_model, messages, temperature, options, on_token)
        else:
            response = client.chat.completions.create(
                model=settings.chat_model, messages=messages, temperature=temperature, **options
            )
            if not hasattr(response, "choices"):  # a 200 that is not JSON (a proxy's login page) comes back as text
                raise UpstreamError("the language model answered something other than a chat completion")
            text = without_surrogates(response.choices[0].message.content or "").strip() if response.choices else ""
            _count(settings.chat_model, response.usage)
    if not text:
        raise UpstreamError("language model returned an empty answer")
    return text


def _streamed(
    client: Any,
    model: str,
    messages: list[Any],
    temperature: float,
    options: dict[str, Any],
    on_token: Callable[[str], None],
) -> str:
    """A streamed completion: its pieces passed on as they arrive; the usage from its last chunk."""
    stream = client.chat.completions.create(
        model=model,
        messages=messages,
        temperature=temperature,
        stream=True,
        stream_options={"include_usage": True},
        **options,
    )
    from cdgpt.clients import time_left

    pieces: list[str] = []
    finished = counted = False
    with stream, _cut_at_deadline(stream) as cut:
        for chunk in _read_until_cut(stream, cut):
            piece = without_surrogates(chunk.choices[0].delta.content or "") if chunk.choices else None
            finished = finished or bool(chunk.choices and chunk.choices[0].finish_reason)
            if piece:
                if not pieces:
                    piece = piece.lstrip()  # as the whole answer is stripped
                if piece:
                    pieces.append(piece)
                    on_token(piece)
            if chunk.usage is not None:
                _count(model, chunk.usage)
                counted = True
            left = time_left()
            if left is not None and left <= 0 and not finished:
                cut.set()
                break
        if cut.is_set() and not finished:  # the whole answer had not come: what came is not sent as one
            raise UpstreamTimeout("the language model did not finish its answer in time")
    if pieces and not finished:  # the stream closed without saying the answer was whole
        raise UpstreamError("the language model's answer broke off")
    if not counted:
        _count(model, None)
    return "".join(pieces).strip()


def _read_until_cut(stream: Any, cut: threading.Event) -> Iterator[Any]:
    """The stream's chunks; a read that fails because the deadline cut the connection ends them quietly
    (an error of the caller's own, raised between chunks, is not caught here)."""
    chunks = iter(stream)
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception:
            if cut.is_set():
                return
            raise
        yield chunk


@contextmanager
def _cut_at_deadline(stream: Any) -> Iterator[threading.Event]:
    """Shut the stream's connection down when the request's time is up: a read waiting on it wakes then
    (each read has a timeout, but a slow trickle of pieces would go on past the deadline). The stream
    itself is closed by its reader; the event tells that it was cut."""
    from cdgpt.clients import time_left

    cut, left = threading.Event(), time_left()
    if left is None:
        yield cut
        return

    def shut_down() -> None:
        cut.set()
        network = getattr(stream, "response", None) and stream.response.extensions.get("network_stream")
        connection = network.get_extra_info("socket") if network is not None else None
        if connection is not None:
            with suppress(OSError):  # closed already
                connection.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(left, 0.0), shut_down)
    timer.daemon = True
    timer.start()
    try:
        yield cut
    finally:
        timer.cancel()


def _count(model: str, reported: Any) -> None:
    if reported is not None:
        usage.record_completion(model, reported.prompt_tokens, reported.completion_tokens)
    else:
        usage.record_completion(model, None, None)
