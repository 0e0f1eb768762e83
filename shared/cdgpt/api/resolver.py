"""What both Lambda handlers share: Powertools objects, and a resolver with auth, limits and error mapping."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError

from cdgpt.api import cors
from cdgpt.api.contract import failure, status_for
from cdgpt.errors import CdgptError
from cdgpt.limits import MAX_BODY_BYTES
from cdgpt.secrets import api_secret

logger = Logger(service="cdgpt")
tracer = Tracer(service="cdgpt")
metrics = Metrics(namespace="CustomDataGPT", service="cdgpt")

NOT_JSON = "send the body as JSON with Content-Type: application/json"


def to_json(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))  # CJK text at 3 bytes a character, not 6


def _reply(status: int, body: dict[str, Any]) -> Response:
    return Response(status, content_types.APPLICATION_JSON, to_json(body))


def _utf8(text: str) -> bytes:
    # "surrogatepass": a JSON body may carry a lone surrogate ("\ud800"), which strict UTF-8 cannot encode.
    return text.encode("utf-8", "surrogatepass")


def parse_json(text: str) -> Any:
    """`json.loads`, failing only with JSONDecodeError: also for nesting too deep to parse (RecursionError)
    and integers longer than Python converts (ValueError), so every unparseable body is a 400."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number too long to convert"
        raise json.JSONDecodeError(reason, text, 0) from None


def _presented_secret(headers: dict[str, str], body: str | None) -> str | None:
    auth = headers.get("authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if headers.get("x-api-key"):
        return headers["x-api-key"]
    try:
        parsed = parse_json(body or "")
    except json.JSONDecodeError:  # no secret can be read from a body that does not parse
        return None
    secret = parsed.get("secret") if isinstance(parsed, dict) else None
    return secret if isinstance(secret, str) else None


def _matches(presented: str, expected: str) -> bool:
    """The presented secret's UTF-8 bytes are the expected secret's. A header's UTF-8 bytes (what curl sends)
    may reach us decoded as ISO-8859-1, as HTTP stacks decode header bytes: its ISO-8859-1 bytes count too."""
    want = _utf8(expected)
    candidates = [_utf8(presented)]
    if not presented.isascii() and max(presented) <= "\xff":
        candidates.append(presented.encode("latin-1"))
    return any([hmac.compare_digest(candidate, want) for candidate in candidates])  # noqa: C419 - compare all


def refusal(event: Mapping[str, Any]) -> tuple[int, str] | None:
    """Why a request is refused before routing (size, content type, secret), or None to go on."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body")
    if len(_utf8(body or "")) > MAX_BODY_BYTES:
        return 413, f"request body is larger than {MAX_BODY_BYTES} bytes"
    expected = api_secret()
    if expected is None:
        return 401, "the API has no secret configured, so every request is refused"
    presented = _presented_secret(headers, body)
    if presented is None or not _matches(presented, expected):
        return 401, "missing or wrong API secret: send Authorization: Bearer <secret>"
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if body and content_type != "application/json" and not content_type.endswith("+json"):
        return 415, NOT_JSON
    return None


class GuardedResolver(APIGatewayRestResolver):
    """Refuses oversized, unauthenticated and non-JSON requests before any routing or validation."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if event.get("httpMethod") == "OPTIONS":  # a CORS preflight comes without credentials
            return cors.preflight(event)
        return cors.with_headers(event, self._guarded(event, context))

    def _guarded(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            refused = refusal(event)
        except Exception:  # a secret that cannot be read (missing parameter, no permission)
            logger.exception("could not read a configured secret")
            request_id = (event.get("requestContext") or {}).get("requestId", "unknown")
            refused = 500, f"internal error; request id {request_id}"
        if refused is None:
            return super().resolve(event, context)
        status, msg = refused
        logger.info("request refused", extra={"status": status})
        return {
            "statusCode": status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": to_json(failure(msg)),
            "isBase64Encoded": False,
        }


ANSWER_MARGIN_S = 2.0  # kept to build and send the answer before the function's own timeout


def answer_budget(context: Any) -> float | None:
    """Seconds a request may spend on outside calls: the function's remaining time, less a margin."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else max(remaining() / 1000 - ANSWER_MARGIN_S, 0.0)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


def make_app() -> APIGatewayRestResolver:
    app = GuardedResolver(enable_validation=True, serializer=to_json, json_body_deserializer=parse_json)

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return _reply(400, failure("request body is not valid JSON"))
        return _reply(422, failure("; ".join(_describe(p) for p in problems[:5])))

    # Powertools parses only "application/json..." (case-sensitive): "+json" types, upper case, or an empty
    # body with another type pass the guard above but would otherwise end as a 500.
    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_content_type(exc: RequestUnsupportedContentType) -> Response:
        return _reply(415, failure(NOT_JSON))

    @app.exception_handler(CdgptError)
    def domain_error(exc: CdgptError) -> Response:
        status = status_for(exc)
        logger.info("request failed", extra={"error": type(exc).__name__, "status": status})
        return _reply(status, failure(str(exc)))

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        logger.exception("unexpected error")
        request_id = app.current_event.request_context.request_id
        return _reply(500, failure(f"internal error; request id {request_id}"))

    @app.not_found
    def no_route(exc: Exception) -> Response:
        event = app.current_event
        return _reply(404, failure(f"no route {event.http_method} {event.path}"))

    return app
