"""The `openai_stub` fixture: an OpenAI-compatible stub server, with the environment pointing at it.

Import it into a test module (tests/conftest.py is not to be edited):

    from tests.support.fixtures_openai import openai_stub  # noqa: F401
"""

from __future__ import annotations

import pytest

from cdgpt.answer.relevance import MIN_SIMILARITY
from cdgpt.clients import reset_clients
from tests.support.openai_stub import OpenAIStub

API_KEY = "test-key"
MAX_RETRIES = 2


@pytest.fixture
def openai_stub(monkeypatch):
    """A running OpenAIStub; OPENAI_BASE_URL, OPENAI_API_KEY and CDGPT_OPENAI_MAX_RETRIES point at it.

    CDGPT_MIN_SCORE fixes the cosine floor at OpenAI's: the stub's hashed bag-of-words vectors put
    everyday questions as near a handbook as its own questions, so the floor set from a model's
    background would refuse most questions (tests/integration/test_background.py tests that floor)."""
    with OpenAIStub() as stub:
        monkeypatch.setenv("CDGPT_MIN_SCORE", str(MIN_SIMILARITY["openai"]))
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        monkeypatch.setenv("CDGPT_OPENAI_MAX_RETRIES", str(MAX_RETRIES))
        reset_clients()
        yield stub
    reset_clients()
