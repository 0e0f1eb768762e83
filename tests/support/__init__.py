"""Helpers shared by the tests."""

import threading
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def settings_with(monkeypatch, **env):
    """Set environment variables and return the settings read afresh from them."""
    from cdgpt.clients import reset_clients
    from cdgpt.settings import get_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_clients()
    return get_settings()


def check_envelope(body: dict, status: int) -> dict:
    """The {code, msg, data} envelope: success for 200, a failure with a reason otherwise."""
    assert list(body) == ["code", "msg", "data"], body
    if status == 200:
        assert body["code"] == 0 and body["msg"] == "success" and isinstance(body["data"], dict)
    else:
        assert body["code"] == 1 and isinstance(body["msg"], str) and body["msg"] and body["data"] is None
    return body


def in_threads(count: int, target: Callable[[int], object]) -> None:
    """Call target(0), ..., target(count - 1), each in a thread of its own, all at once; return when all have."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
