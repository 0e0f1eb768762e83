"""CORS, for a chat page served from another origin than the API: off unless `CDGPT_CORS_ORIGINS`
names the origins allowed (exact `scheme://host[:port]` values, comma-separated).

The page that `cdgpt serve` and the stack serve is on the API's own origin and needs none of this.
A preflight (`OPTIONS`) is answered before authentication, as browsers send it without credentials;
an origin not listed gets no CORS headers, so the browser keeps the response from the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdgpt.settings import get_settings

ALLOW_HEADERS = "Authorization, Content-Type, X-Api-Key, Idempotency-Key, Accept"
ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
EXPOSE_HEADERS = "Location, Retry-After"
MAX_AGE_S = 600


def _origin(event: Mapping[str, Any]) -> str | None:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    origin = headers.get("origin")
    return origin if origin and origin in get_settings().cors_origins else None


def response_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """The headers that let an allowed origin's page read a response; with CORS on, every response says it
    varies by origin (a cache must not hand an allowed origin the answer another origin got)."""
    if not get_settings().cors_origins:
        return {}
    origin = _origin(event)
    if origin is None:
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSE_HEADERS, "Vary": "Origin"}


def preflight(event: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to an OPTIONS request: 204, with the CORS permissions when the origin is allowed."""
    headers = response_headers(event)
    if "Access-Control-Allow-Origin" in headers:
        headers |= {
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": str(MAX_AGE_S),
        }
    return {"statusCode": 204, "headers": headers, "body": "", "isBase64Encoded": False}


def with_headers(event: Mapping[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    """A proxy reply with the CORS headers for the request's origin added (if it is allowed)."""
    extra = response_headers(event)
    if not extra:
        return reply
    multi = reply.get("multiValueHeaders")
    if multi:
        return {**reply, "multiValueHeaders": {**multi, **{k: [v] for k, v in extra.items()}}}
    return {**reply, "headers": {**(reply.get("headers") or {}), **extra}}
