"""Shared fixtures: a clean environment per test, and a local HTTP server for URL sources."""

from __future__ import annotations

import pytest

from cdgpt.clients import reset_clients

ENV_PREFIXES = ("CDGPT_", "OPENAI_", "ARTIFACTS_BUCKET", "AWS_ENDPOINT_URL", "API_SECRET")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Each test starts from the embedded default: no keys, no bucket, a fresh data folder."""
    import os

    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CDGPT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CDGPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    reset_clients()
    forget_keys_and_counters()
    yield
    reset_clients()
    forget_keys_and_counters()


def forget_keys_and_counters() -> None:
    """Key records cached and requests counted in this process (the memory limiter) belong to one test."""
    from cdgpt.keys import records, throttle

    records.forget_all()
    throttle.forget_all()


@pytest.fixture
def web():
    """A threaded HTTP server on 127.0.0.1 serving `routes` (path -> Response); yields it."""
    from tests.support.web import LocalWeb

    with LocalWeb() as server:
        yield server


@pytest.fixture
def in_repo(monkeypatch):
    """Run from the repository, with local paths under it allowed (the CLI's default root is the cwd)."""
    from tests.support import REPO

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(REPO))
    reset_clients()
    return REPO
