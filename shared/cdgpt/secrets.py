"""Secrets from SSM Parameter Store (SecureString), fetched once per container and cached."""

from __future__ import annotations

from cdgpt.errors import UpstreamError
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


def openai_key() -> str | None:
    """The OpenAI key: from the environment, or from the SSM parameter OPENAI_API_KEY_PARAM names."""
    settings = get_settings()
    if settings.openai_api_key is not None:
        return settings.openai_api_key.get_secret_value()
    if settings.openai_api_key_param:
        try:
            return _fetch(settings.openai_api_key_param)
        except Exception as exc:  # missing parameter, no permission, SSM unreachable
            raise UpstreamError(f"could not read the OpenAI key from SSM ({type(exc).__name__})") from exc
    return None
