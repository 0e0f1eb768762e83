"""Secrets from SSM Parameter Store (SecureString), fetched once per container and cached."""

from __future__ import annotations

import os
from functools import lru_cache

from cdgpt.settings import get_settings

CACHE_SECONDS = 900


def _fetch(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return parameters.get_parameter(name, decrypt=True, max_age=CACHE_SECONDS)


def api_secret() -> str | None:
    """The configured API secret, or None (then every request is refused)."""
    settings = get_settings()
    if settings.api_secret:
        return settings.api_secret.get_secret_value() or None
    if settings.api_secret_param:
        return _fetch(settings.api_secret_param) or None
    return None


@lru_cache(maxsize=1)
def export_openai_key() -> None:
    """Put the OpenAI key named by OPENAI_API_KEY_PARAM into the environment, once per container."""
    settings = get_settings()
    if settings.openai_api_key is None and settings.openai_api_key_param:
        os.environ["OPENAI_API_KEY"] = _fetch(settings.openai_api_key_param)
        from cdgpt.clients import reset_clients

        reset_clients()
