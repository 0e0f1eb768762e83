"""The outside world's clients, each built once and lazily."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cdgpt.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient
    from openai import OpenAI
    from requests import Session


@lru_cache(maxsize=1)
def s3_client() -> S3Client:
    import boto3
    from botocore.config import Config

    # boto3 honours AWS_ENDPOINT_URL (a moto server) and the region by itself.
    return boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}))


@lru_cache(maxsize=1)
def lambda_client() -> LambdaClient:
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", config=Config(retries={"max_attempts": 3, "mode": "standard"}))


@lru_cache(maxsize=1)
def sfn_client() -> SFNClient:
    import boto3
    from botocore.config import Config

    return boto3.client("stepfunctions", config=Config(retries={"max_attempts": 5, "mode": "standard"}))


@lru_cache(maxsize=1)
def sqs_client() -> SQSClient:
    import boto3
    from botocore.config import Config

    return boto3.client("sqs", config=Config(retries={"max_attempts": 3, "mode": "standard"}))


@lru_cache(maxsize=1)
def dynamodb_client() -> DynamoDBClient:
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(retries={"max_attempts": 3, "mode": "standard"}))


@lru_cache(maxsize=1)
def openai_client() -> OpenAI:
    from openai import DefaultHttpxClient, OpenAI

    from cdgpt.secrets import openai_key

    settings = get_settings()
    key = openai_key() or "unused"  # a local OpenAI-compatible server may need no key
    return OpenAI(
        api_key=key,
        base_url=settings.openai_base_url,
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_s,
        http_client=DefaultHttpxClient(event_hooks={"response": [_no_retry_past_budget]}),
    )


@lru_cache(maxsize=1)
def rerank_session() -> Session:
    """HTTP to the reranking server (`answer/reranking.py`), with its key when one is configured."""
    import requests

    from cdgpt.secrets import rerank_key

    session = requests.Session()
    key = rerank_key()
    if key:
        session.headers["Authorization"] = f"Bearer {key}"
    return session


MIN_CALL_S = 1.0  # below this, a call to the language model cannot be worth starting
MIN_ATTEMPT_S = 4.0  # an attempt shorter than this would time out on an ordinary answer: retry less instead
_deadline: ContextVar[float | None] = ContextVar("openai_deadline", default=None)


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Calls to the OpenAI-compatible server inside this block end within `seconds`, retries included."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds left in the current budget; None when there is none."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def openai_for_request() -> OpenAI:
    """The OpenAI client, its timeout and retries cut to the time left in the current budget, if any."""
    from cdgpt.errors import UpstreamTimeout

    client = openai_client()
    deadline = _deadline.get()
    if deadline is None:
        return client
    left = deadline - time.monotonic()
    if left < MIN_CALL_S:
        raise UpstreamTimeout("no time was left in this request to ask the language model")
    settings = get_settings()
    retries = settings.openai_max_retries
    while retries and (left - _backoff(retries)) / (retries + 1) < MIN_ATTEMPT_S:
        retries -= 1
    timeout = min(settings.openai_timeout_s, (left - _backoff(retries)) / (retries + 1))
    return client.with_options(timeout=timeout, max_retries=retries)


@contextmanager
def openai_errors(server: str, retries: int) -> Iterator[None]:
    """The OpenAI SDK's failures as domain errors: `server` names what failed ("the embedding server");
    `retries`, the client's, tells whether a failure came after retries."""
    import openai

    from cdgpt.errors import UpstreamError, UpstreamTimeout

    try:
        yield
    except openai.APITimeoutError as exc:
        raise UpstreamTimeout(f"{server} did not answer in time") from exc
    except openai.APIStatusError as exc:
        vetoed = exc.response.headers.get("x-should-retry") == "false"  # the server's, or the time budget's
        retried = " after retries" if retries and _retryable(exc.status_code) and not vetoed else ""
        raise UpstreamError(f"{server} answered HTTP {exc.status_code}{retried}") from exc
    except openai.APIConnectionError as exc:
        raise UpstreamError(f"{server} is unreachable: {type(exc).__name__}") from exc
    except openai.APIError as exc:  # an error event inside a stream, an answer of the wrong shape
        raise UpstreamError(f"{server} reported an error ({type(exc).__name__})") from exc
    except json.JSONDecodeError as exc:  # a 200 whose JSON, or a streamed event's, is broken
        raise UpstreamError(f"{server} answered with broken JSON") from exc


def _retryable(status: int) -> bool:
    """The statuses the SDK retries."""
    return status in (408, 409, 429) or status >= 500


def _no_retry_past_budget(response: Any) -> None:
    """A response hook: the SDK waits as long as a server's Retry-After says (up to two minutes), so a
    wait that leaves no time for another attempt within the budget is no retry (`x-should-retry`)."""
    left = time_left()
    if left is None or response.status_code < 400:
        return
    wait = _retry_after_s(response.headers)
    attempt = (response.request.extensions.get("timeout") or {}).get("read") or MIN_ATTEMPT_S
    if wait is not None and wait + attempt > left:
        response.headers["x-should-retry"] = "false"


def _retry_after_s(headers: Any) -> float | None:
    """Seconds a server asks to wait: `retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    from email.utils import parsedate_to_datetime

    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) * scale
        except ValueError:
            pass
    try:
        return parsedate_to_datetime(headers.get("retry-after", "")).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _backoff(retries: int) -> float:
    """At most what the SDK waits between attempts (0.5 s doubling, capped at 8 s)."""
    return sum(min(0.5 * 2**attempt, 8.0) for attempt in range(retries))


def reset_clients() -> None:
    """Forget cached settings and clients (tests change the environment)."""
    get_settings.cache_clear()
    s3_client.cache_clear()
    lambda_client.cache_clear()
    sfn_client.cache_clear()
    sqs_client.cache_clear()
    dynamodb_client.cache_clear()
    openai_client.cache_clear()
    rerank_session.cache_clear()
