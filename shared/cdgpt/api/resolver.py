"""What both Lambda handlers share: Powertools objects, and a resolver with auth, limits and error mapping."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit

from cdgpt.api import cors
from cdgpt.api.contract import SHAPES, failure, status_for
from cdgpt.errors import CdgptError, Throttled
from cdgpt.keys.records import Principal, authenticate, looks_like_key
from cdgpt.keys.throttle import check_failures, check_rate, count_failure
from cdgpt.limits import MAX_BODY_BYTES
from cdgpt.models.store import default_store
from cdgpt.secrets import api_secret
from cdgpt.settings import get_settings

logger = Logger(service="cdgpt")
tracer = Tracer(service="cdgpt")
metrics = Metrics(namespace="CustomDataGPT", service="cdgpt")

NOT_JSON = "send the body as JSON with Content-Type: application/json"
UNCONFIGURED = "the API has no secret configured: send an API key (cdgpt keys create)"
UNAUTHENTICATED = "missing or wrong API secret: send Authorization: Bearer <secret>"
UNKNOWN_KEY = "unknown, wrong or revoked API key (cdgpt_...): send an active key"
SECRET_PRINCIPAL = Principal(key_id="api-secret", role="admin", models=("*",))  # API_SECRET: an admin key


def to_json(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))  # CJK text at 3 bytes a character, not 6


def _reply(status: int, body: dict[str, Any]) -> Response:
    return Response(status, content_types.APPLICATION_JSON, to_json(body))


def _utf8(text: str) -> bytes:
    # "surrogatepass": a JSON body may carry a lone surrogate ("\ud800"), which strict UTF-8 cannot encode.
    return text.encode("utf-8", "surrogatepass")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def parse_json(text: str) -> Any:
    """`json.loads`, failing only with JSONDecodeError: also for nesting too deep to parse (RecursionError),
    integers longer than Python converts (ValueError) and NaN or Infinity (Python's extension, not JSON),
    so every unparseable body is a 400."""
    try:
        return json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
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


@dataclass(frozen=True)
class Refused:
    status: int
    msg: str
    headers: dict[str, str] = field(default_factory=dict)


def _authenticate(presented: str | None, address: str | None) -> Principal | Refused:
    """A key (`cdgpt_<id>_<secret>`) or the API secret (an admin on every model). The secret is not compared
    for an address that got it wrong too often lately; a valid key (too long to guess) still passes."""
    settings = get_settings()
    is_key = presented is not None and looks_like_key(presented)
    if presented is not None and is_key:
        principal = authenticate(default_store(settings), presented, settings.key_cache_s)
        if principal is not None:
            return principal
    expected = api_secret()  # a key-shaped secret is still the secret
    if expected is None:
        return Refused(401, UNKNOWN_KEY if is_key else UNCONFIGURED)
    if presented is None:
        return Refused(401, UNAUTHENTICATED)
    if (locked := _locked_out(address)) is not None:
        return locked
    if not _matches(presented, expected):
        _guessed(address)
        return Refused(401, UNKNOWN_KEY if is_key else UNAUTHENTICATED)
    return SECRET_PRINCIPAL


def _throttled(principal: Principal) -> Refused | None:
    settings = get_settings()
    try:
        check_rate(principal.key_id, principal.rate_per_minute or settings.rate_limit, settings)
    except Throttled as exc:
        return Refused(429, str(exc), {"Retry-After": str(exc.retry_after)})
    except CdgptError:  # the counters cannot be reached: stage throttling still bounds the API
        logger.exception("could not count the request against its key's rate")
    return None


def _address(event: Mapping[str, Any]) -> str | None:
    """The client's address as API Gateway saw it (None: invoked directly)."""
    identity = (event.get("requestContext") or {}).get("identity") or {}
    address = identity.get("sourceIp") if isinstance(identity, dict) else None
    return address if isinstance(address, str) and address else None


def _locked_out(address: str | None) -> Refused | None:
    if address is None:
        return None
    try:
        check_failures(address, get_settings().auth_failures, get_settings())
    except Throttled as exc:
        return Refused(429, str(exc), {"Retry-After": str(exc.retry_after)})
    except CdgptError:  # the counters cannot be reached: the secret is compared
        logger.exception("could not read an address's failed authentications")
    return None


def _guessed(address: str | None) -> None:
    """Count a wrong secret from the address."""
    if address is None:
        return
    try:
        count_failure(address, get_settings().auth_failures, get_settings())
    except CdgptError:
        logger.exception("could not count a failed authentication")


def admit(event: Mapping[str, Any]) -> Principal | Refused:
    """Who sends the request, or why it is refused before routing (size, key or secret, rate, content type)."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body")
    if len(_utf8(body or "")) > MAX_BODY_BYTES:
        return Refused(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    principal = _authenticate(_presented_secret(headers, body), _address(event))
    if isinstance(principal, Refused):
        metrics.add_metric(name="AuthenticationsFailed", unit=MetricUnit.Count, value=1)
        return principal
    throttled = _throttled(principal)
    if throttled is not None:
        return throttled
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return Refused(415, f"Content-Encoding {encoding} is not supported: send the body uncompressed")
    if body and not _is_json(headers.get("content-type", "application/json")):
        return Refused(415, NOT_JSON)
    return principal


def _is_json(content_type: str) -> bool:
    """application/json or a +json type, in any case (media types are case-insensitive)."""
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _as_json(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event with a JSON body's content type spelt as Powertools expects it (it compares case-sensitively,
    and only with application/json)."""
    headers = event.get("headers") or {}
    given = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if given is None or given.startswith("application/json") or not _is_json(given):
        return event
    spelt = {k: v for k, v in headers.items() if k.lower() != "content-type"} | {"Content-Type": "application/json"}
    many = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    return {**event, "headers": spelt, "multiValueHeaders": many | {"Content-Type": ["application/json"]}}


class GuardedResolver(APIGatewayRestResolver):
    """Refuses oversized, unauthenticated, throttled and non-JSON requests before any routing or validation;
    the caller's principal is in `app.context["principal"]` for the routes to authorise (api/auth.py)."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if event.get("httpMethod") == "OPTIONS":  # a CORS preflight comes without credentials
            return cors.preflight(event)
        return cors.with_headers(event, self._guarded(event, context))

    def _guarded(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            admitted = admit(event)
        except Exception:  # a secret or key that cannot be read (missing parameter, no permission)
            logger.exception("could not read a configured secret")
            request_id = (event.get("requestContext") or {}).get("requestId", "unknown")
            admitted = Refused(500, f"internal error; request id {request_id}")
        if isinstance(admitted, Principal):
            self.append_context(principal=admitted)
            return super().resolve(_as_json(event), context)
        logger.info("request refused", extra={"status": admitted.status})
        return {
            "statusCode": admitted.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON, **admitted.headers},
            "body": to_json(failure(admitted.msg)),
            "isBase64Encoded": False,
        }


ANSWER_MARGIN_S = 2.0  # kept to build and send the answer before the function's own timeout


def answer_budget(context: Any) -> float | None:
    """Seconds a request may spend on outside calls: the function's remaining time, less a margin."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else max(remaining() / 1000 - ANSWER_MARGIN_S, 0.0)


def _describe(error: dict[str, Any]) -> str:
    # a body of one of two shapes (the current one, the original clients') names its shape in the location
    loc = list(error.get("loc", ()))[1:]
    if loc and loc[0] in SHAPES:
        loc = loc[1:]
    where = ".".join(str(part) for part in loc) or "body"
    if tuple(error.get("loc", ()))[:1] == ("header",) and isinstance(error.get("input"), list):
        return f"{where}: send this header once"  # two Idempotency-Key headers, say
    return f"{where}: {error.get('msg', 'invalid')}"


def make_app() -> APIGatewayRestResolver:
    app = GuardedResolver(enable_validation=True, serializer=to_json, json_body_deserializer=parse_json)

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return _reply(400, failure("request body is not valid JSON"))
        body_missing = any(p.get("type") == "missing" and tuple(p.get("loc", ())) == ("body",) for p in problems)
        if body_missing and not (app.current_event.body or "").strip():  # no body at all, not JSON's null
            return _reply(400, failure("request body is empty: send a JSON object"))
        if body_missing:  # JSON's null
            return _reply(422, failure("body: must be a JSON object, not null"))
        return _reply(422, failure("; ".join(_describe(p) for p in problems[:5])))

    # Powertools parses only "application/json..." (case-sensitive; `_as_json` respells a JSON type): an empty
    # body with another type passes the guard above but would otherwise end as a 500.
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
