"""The outside world's clients, each built once and lazily."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from cdgpt.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from openai import OpenAI


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
def openai_client() -> OpenAI:
    from openai import OpenAI

    from cdgpt.secrets import openai_key

    settings = get_settings()
    key = openai_key() or "unused"  # a local OpenAI-compatible server may need no key
    return OpenAI(
        api_key=key,
        base_url=settings.openai_base_url,
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_s,
    )


def reset_clients() -> None:
    """Forget cached settings and clients (tests change the environment)."""
    get_settings.cache_clear()
    s3_client.cache_clear()
    lambda_client.cache_clear()
    openai_client.cache_clear()
