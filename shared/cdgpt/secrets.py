"""Secrets from SSM Parameter Store (SecureString), fetched once per container and cached."""

from __future__ import annotations

from pydantic import SecretStr

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
    return _key(settings.openai_api_key, settings.openai_api_key_param, "the OpenAI key")


def rerank_key() -> str | None:
    """The reranking server's key: from the environment, or from the SSM parameter CDGPT_RERANK_API_KEY_PARAM names."""
    settings = get_settings()
    return _key(settings.rerank_api_key, settings.rerank_api_key_param, "the reranking key")


def _key(given: SecretStr | None, param: str | None, what: str) -> str | None:
    if given is not None:
        return given.get_secret_value()
    if param:
        try:
            return _fetch(param)
        except Exception as exc:  # missing parameter, no permission, SSM unreachable
            raise UpstreamError(f"could not read {what} from SSM ({type(exc).__name__})") from exc
    return None
