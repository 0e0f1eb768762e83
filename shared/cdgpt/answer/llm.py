"""One chat completion from the OpenAI-compatible server, its failures as domain errors."""

from __future__ import annotations

from typing import Any

from cdgpt.errors import UpstreamError
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
) -> str:
    """The model's reply; UpstreamTimeout or UpstreamError when it fails or answers nothing.

    Calls are bounded by the request's time budget (`clients.openai_for_request`); a `short` one by
    its own smaller budget, so that the answer's call keeps most of the time.
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
        response = client.chat.completions.create(
            model=settings.chat_model, messages=messages, temperature=temperature, **options
        )
    text = (response.choices[0].message.content or "").strip() if response.choices else ""
    if not text:
        raise UpstreamError("language model returned an empty answer")
    return text
