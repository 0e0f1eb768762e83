"""API Gateway's part of `cdgpt serve`: matching template paths, the proxy event, the proxy reply."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cdgpt.local.gateway import HttpRequest, MalformedReply, Match, Refusal, RouteTable, proxy_event, proxy_reply
from cdgpt.local.server import Route, template_routes
from tests.support import REPO


def route(method: str, path: str, function: str = "Fn") -> Route:
    return Route(method, path, function, Path("."), "app.handler")


TABLE = RouteTable(
    [
        route("POST", "/train"),
        route("GET", "/jobs/{job_id}"),
        route("GET", "/models"),
        route("GET", "/models/{model_name}"),
        route("DELETE", "/models/{model_name}"),
        route("POST", "/models/{model_name}/sources"),
        route("GET", "/models/default"),
        route("ANY", "/static/{path+}"),
        route("GET", "/{first}/{second}/{third}"),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "resource", "parameters"),
    [
        ("POST", "/train", "/train", None),
        ("GET", "/jobs/j-123", "/jobs/{job_id}", {"job_id": "j-123"}),
        ("GET", "/models", "/models", None),
        ("GET", "/models/handbook", "/models/{model_name}", {"model_name": "handbook"}),
        ("DELETE", "/models/hand%20book", "/models/{model_name}", {"model_name": "hand book"}),
        ("POST", "/models/handbook/sources", "/models/{model_name}/sources", {"model_name": "handbook"}),
        ("GET", "/models/default", "/models/default", None),  # a static path wins over a parameter
        ("HEAD", "/models/x", "/models/{model_name}", {"model_name": "x"}),
        ("PUT", "/static/a/b/c.css", "/static/{path+}", {"path": "a/b/c.css"}),
        ("GET", "/a/b/c", "/{first}/{second}/{third}", {"first": "a", "second": "b", "third": "c"}),
    ],
)
def test_a_request_finds_its_route_and_parameters(method, path, resource, parameters):
    found = TABLE.find(method, path)
    assert isinstance(found, Match), found
    assert found.route.path == resource and found.path_parameters == parameters


@pytest.mark.parametrize(
    "path",
    ["/", "/train/", "/Train", "/jobs", "/jobs/", "/jobs/a/b/c", "/models/a/b/c", "/static", "/a/b/c/d", "//train"],
)
def test_a_path_the_template_does_not_declare_is_404(path):
    assert TABLE.find("GET", path) == Refusal(404, f"no route GET {path}", [])


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/train", ["OPTIONS", "POST"]),
        ("POST", "/models/x", ["DELETE", "GET", "HEAD", "OPTIONS"]),
        ("DELETE", "/models/default", ["GET", "HEAD", "OPTIONS"]),  # the static resource decides, not the parameter
        ("PUT", "/jobs/1", ["GET", "HEAD", "OPTIONS"]),
    ],
)
def test_a_known_path_with_another_method_is_405_listing_the_allowed_ones(method, path, allow):
    refusal = TABLE.find(method, path)
    assert refusal == Refusal(405, f"method {method} is not allowed on {path} (allowed: {', '.join(allow)})", allow)
    assert TABLE.find("OPTIONS", path) == Refusal(204, None, allow)


def test_a_parameter_is_one_segment_and_a_greedy_one_the_rest():
    assert isinstance(TABLE.find("GET", "/jobs/a%2Fb"), Match)  # an encoded slash stays inside the segment
    found = TABLE.find("GET", "/jobs/a%2Fb")
    assert isinstance(found, Match) and found.path_parameters == {"job_id": "a/b"}


def test_the_projects_template_routes_are_all_found():
    routes = template_routes(REPO / "template.yaml")
    table = RouteTable(routes)
    for declared in routes:
        path = declared.path.replace("{", "").replace("}", "").replace("+", "")
        found = table.find(declared.method, path)
        assert isinstance(found, Match) and found.route == declared


REQUEST = HttpRequest(
    method="GET",
    raw_path="/models/hand%20book",
    query="a=1&a=2&b=&c=caf%C3%A9&d=x+y",
    headers=[("user-agent", "test/1"), ("x-dup", "one"), ("x-dup", "two")],
    body=None,
    source_ip="127.0.0.1",
)


def test_the_proxy_event_has_api_gateways_shape():
    found = TABLE.find("GET", REQUEST.raw_path)
    assert isinstance(found, Match)
    event = proxy_event(found, REQUEST, "req-1")
    assert event["resource"] == "/models/{model_name}" and event["path"] == "/models/hand%20book"
    assert event["httpMethod"] == "GET" and event["pathParameters"] == {"model_name": "hand book"}
    assert event["queryStringParameters"] == {"a": "2", "b": "", "c": "café", "d": "x y"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""], "c": ["café"], "d": ["x y"]}
    assert event["headers"]["x-dup"] == "two" and event["multiValueHeaders"]["x-dup"] == ["one", "two"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == "req-1" and context["resourcePath"] == "/models/{model_name}"
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "test/1"}


def test_head_reaches_the_handler_as_get():
    found = TABLE.find("HEAD", "/models/x")
    assert isinstance(found, Match)
    request = HttpRequest("HEAD", "/models/x", "", [], None, "127.0.0.1")
    assert proxy_event(found, request, "r")["httpMethod"] == "GET"


def test_the_reply_keeps_every_header_value_and_drops_framing_headers():
    status, headers, body = proxy_reply(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Single": "1", "x-multi": "ignored"},
            "multiValueHeaders": {"X-Multi": ["a", "b"], "Content-Length": ["999"]},
            "body": '{"ok": "✓"}',
        }
    )
    assert status == 201 and body == '{"ok": "✓"}'.encode()
    assert headers == [
        (b"X-Multi", b"a"),
        (b"X-Multi", b"b"),
        (b"Content-Type", b"application/json"),
        (b"X-Single", b"1"),
    ]


def test_a_base64_reply_is_decoded():
    encoded = base64.b64encode(b"\x00\xff").decode()
    assert proxy_reply({"statusCode": 200, "body": encoded, "isBase64Encoded": True})[2] == b"\x00\xff"


@pytest.mark.parametrize(
    "result",
    [
        {"body": "no status"},
        {"statusCode": "abc"},
        {"statusCode": 700},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
        {"statusCode": 200, "headers": ["not", "a", "mapping"]},
        None,
    ],
)
def test_a_reply_that_is_not_a_proxy_response_is_malformed(result):
    with pytest.raises(MalformedReply):
        proxy_reply(result)
