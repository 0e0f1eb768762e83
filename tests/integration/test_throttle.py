"""Each counter store counts a key's requests in a 60 s window opened by its first request: at the limit
the next request waits until the window ends, and a request after it opens a new one."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from cdgpt.keys.throttle import DynamoLimiter, LocalLimiter, MemoryLimiter, Window, admit
from tests.support import in_threads

T0 = 1_800_000_000.25


def test_the_window_opens_at_the_first_request_and_ends_60_s_later():
    window, wait = admit(None, T0, 2)
    assert (window, wait) == (Window(T0, 1), None)
    window, wait = admit(window, T0 + 10, 2)
    assert (window, wait) == (Window(T0, 2), None)
    assert admit(window, T0 + 59.5, 2) == (window, 0.5)
    assert admit(window, T0 + 60, 2) == (Window(T0 + 60, 1), None)
    assert admit(window, T0 - 5, 2) == (Window(T0 - 5, 1), None)  # a clock that went back opens a new window


@pytest.fixture(params=["memory", "local-folder", "dynamodb"])
def limiter(request, tmp_path):
    if request.param == "memory":
        yield MemoryLimiter()
    elif request.param == "local-folder":
        yield LocalLimiter(tmp_path / "data")
    else:
        with mock_aws():
            boto3.client("dynamodb", region_name="us-east-1").create_table(
                TableName="rate",
                KeySchema=[{"AttributeName": "key_id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "key_id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            yield DynamoLimiter("rate")


def test_each_store_limits_a_key_and_opens_a_new_window(limiter):
    assert [limiter.hit("k1", 3, T0 + i) for i in range(3)] == [None, None, None]
    assert limiter.hit("k1", 3, T0 + 20) == pytest.approx(40)
    assert limiter.hit("k1", 3, T0 + 59) == pytest.approx(1)
    assert limiter.hit("k2", 3, T0 + 20) is None  # another key
    assert limiter.hit("k1", 3, T0 + 61) is None  # a new window, opened at T0 + 61
    assert limiter.hit("k1", 3, T0 + 62) is None
    assert limiter.hit("k1", 3, T0 + 63) is None
    assert limiter.hit("k1", 3, T0 + 64) == pytest.approx(57)


def test_each_store_tells_a_keys_wait_without_counting(limiter):
    assert limiter.wait("k1", 2, T0) is None  # never seen
    assert limiter.hit("k1", 2, T0) is None
    assert [limiter.wait("k1", 2, T0 + 1) for _ in range(3)] == [None] * 3  # below the limit, and nothing counted
    assert limiter.hit("k1", 2, T0 + 2) is None
    assert limiter.wait("k1", 2, T0 + 20) == pytest.approx(40)
    assert limiter.wait("k1", 2, T0 + 60) is None  # the window is over


def test_the_local_counter_is_exact_under_concurrent_requests(tmp_path):
    """Threads stand in for `cdgpt serve`'s worker processes: each has its own connection to the counter
    table, and each request is one transaction."""
    limiter = LocalLimiter(tmp_path / "data")
    results: list[float | None] = []
    lock = threading.Lock()

    def hit() -> None:
        for _ in range(10):
            outcome = limiter.hit("k", 25, T0)
            with lock:
                results.append(outcome)

    in_threads(4, lambda _: hit())
    assert results.count(None) == 25 and len(results) == 40
