"""What API Gateway (REST, proxy integration) does around a Lambda: route matching, the event, the reply.

Paths are the template's, with API Gateway's parameters: `{name}` is one path segment, `{name+}` the
rest of the path. The most specific matching resource decides: an unknown path is 404, a known path
with a method it does not declare is 405 with `Allow`. HEAD runs a GET route without its body, and
OPTIONS on a known path answers 204 with `Allow`.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from cdgpt.local.server import Route

_PARAMETER = re.compile(r"\{([^{}/+]+)(\+?)\}")
# Framing belongs to the HTTP server, never to the handler's reply.
_HOP_BY_HOP = {"connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}


@dataclass(frozen=True)
class Resource:
    """One template path and the routes declared on it, with the pattern that matches its requests."""

    path: str
    routes: tuple[Route, ...]
    pattern: re.Pattern[str]
    names: tuple[str, ...]

    @classmethod
    def of(cls, path: str, routes: Sequence[Route]) -> Resource:
        regex, names, end = ["^"], [], 0
        for param in _PARAMETER.finditer(path):
            regex.append(re.escape(path[end : param.start()]))
            regex.append("(.+)" if param[2] else "([^/]+)")
            names.append(param[1])
            end = param.end()
        regex += [re.escape(path[end:]), "$"]
        return cls(path, tuple(routes), re.compile("".join(regex)), tuple(names))

    def specificity(self) -> tuple[int, int, int]:
        """Static paths first, then fewer parameters, greedy ones last, then longer fixed text."""
        greedy = "+}" in self.path
        fixed = len(_PARAMETER.sub("", self.path))
        return (greedy, len(self.names), -fixed)

    def allowed(self) -> list[str]:
        methods = {route.method for route in self.routes}
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"})


@dataclass(frozen=True)
class Match:
    route: Route
    path_parameters: dict[str, str] | None


@dataclass(frozen=True)
class Refusal:
    """The gateway's own answer: 404, 405 or an OPTIONS reply, with the methods the path allows."""

    status: int
    msg: str | None
    allow: list[str]


class RouteTable:
    def __init__(self, routes: Sequence[Route]) -> None:
        by_path: dict[str, list[Route]] = {}
        for route in routes:
            by_path.setdefault(route.path, []).append(route)
        resources = [Resource.of(path, declared) for path, declared in by_path.items()]
        self.resources = sorted(resources, key=Resource.specificity)

    def find(self, method: str, raw_path: str) -> Match | Refusal:
        """The route for a request's method and (percent-encoded) path, or why there is none."""
        for resource in self.resources:
            found = resource.pattern.match(raw_path)
            if found is None:
                continue
            wanted = "GET" if method == "HEAD" else method
            for route in resource.routes:
                if route.method in (wanted, "ANY"):
                    values = [unquote(value) for value in found.groups()]
                    return Match(route, dict(zip(resource.names, values, strict=True)) or None)
            if method == "OPTIONS":
                return Refusal(204, None, resource.allowed())
            allowed = ", ".join(resource.allowed())
            return Refusal(
                405, f"method {method} is not allowed on {raw_path} (allowed: {allowed})", resource.allowed()
            )
        return Refusal(404, f"no route {method} {raw_path}", [])


@dataclass(frozen=True)
class HttpRequest:
    method: str
    raw_path: str  # percent-encoded, as API Gateway REST passes `path`
    query: str
    headers: list[tuple[str, str]]  # lower-case names, in the order received
    body: str | None
    source_ip: str


def proxy_event(match: Match, request: HttpRequest, request_id: str) -> dict[str, Any]:
    """The API Gateway REST proxy event the Lambda receives for this request."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    forwarded = [("x-forwarded-for", request.source_ip), ("x-forwarded-proto", "http")]  # set by API Gateway
    for name, value in [*((n, v) for n, v in request.headers if not n.startswith("x-forwarded-")), *forwarded]:
        headers[name] = value  # the last of repeated headers, as API Gateway does
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True, errors="replace"):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    method = "GET" if request.method == "HEAD" else request.method
    return {
        "resource": match.route.path,
        "path": request.raw_path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters,
        "stageVariables": None,
        "body": request.body,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": match.route.path,
            "httpMethod": method,
            "path": request.raw_path,  # no stage in the URL, as behind a custom domain
            "stage": "local",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": request.source_ip, "userAgent": headers.get("user-agent")},
        },
    }


class MalformedReply(ValueError):
    """The handler's result is not a Lambda proxy response (API Gateway answers 502)."""


def proxy_reply(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A Lambda proxy response as the HTTP status, headers (multiValueHeaders first) and body bytes."""
    try:
        status = int(result["statusCode"])
        body = result.get("body") or ""
        payload = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode()
        headers: list[tuple[bytes, bytes]] = []
        seen: set[str] = set()
        for name, values in (result.get("multiValueHeaders") or {}).items():
            seen.add(name.lower())
            headers += [(name.encode(), str(value).encode()) for value in values]
        for name, value in (result.get("headers") or {}).items():
            if name.lower() not in seen:
                headers.append((name.encode(), str(value).encode()))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedReply(f"malformed Lambda proxy response: {type(exc).__name__}") from exc
    if not 100 <= status <= 599:
        raise MalformedReply(f"malformed Lambda proxy response: status {status}")
    return status, [(k, v) for k, v in headers if k.decode().lower() not in _HOP_BY_HOP], payload
