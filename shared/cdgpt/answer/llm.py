"""One chat completion from the OpenAI-compatible server, its failures as domain errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cdgpt import usage
from cdgpt.errors import UpstreamError, UpstreamTimeout
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
    from cdgpt.clients import openai_errors, openai_for_request, time_budget, time_left

    if short:
        left = time_left()
        with time_budget(SHORT_CALL_S if left is None else min(SHORT_CALL_S, SHORT_CALL_SHARE * left)):
            client = openai_for_request()
    else:
        client = openai_for_request()
    options: dict[str, Any] = {"max_tokens": max_tokens} if max_tokens else {}
    with openai_errors("the language model"):
        if on_token is not None:
            text = _streamed(client, settings.chat_model, messages, temperature, options, on_token)
        else:
            response = client.chat.completions.create(
                model=settings.chat_model, messages=messages, temperature=temperature, **options
            )
            if not hasattr(response, "choices"):  # a 200 that is not JSON (a proxy's login page) comes back as text
                raise UpstreamError("the language model answered something other than a chat completion")
            text = (response.choices[0].message.content or "").strip() if response.choices else ""
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
    with stream:
        for chunk in stream:
            piece = chunk.choices[0].delta.content if chunk.choices else None
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
            left = time_left()  # each read has its timeout; a slow trickle of pieces must end too
            if left is not None and left <= 0:
                raise UpstreamTimeout("the language model did not finish its answer in time")
    if pieces and not finished:  # the stream closed without saying the answer was whole
        raise UpstreamError("the language model's answer broke off")
    if not counted:
        _count(model, None)
    return "".join(pieces).strip()


def _count(model: str, reported: Any) -> None:
    if reported is not None:
        usage.record_completion(model, reported.prompt_tokens, reported.completion_tokens)
    else:
        usage.record_completion(model, None, None)
