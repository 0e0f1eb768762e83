"""`cdgpt serve`: the API routes declared in template.yaml, on a local HTTP port, without Docker.

Each request becomes the API Gateway (REST, proxy) event the Lambda would receive and goes to the same
handler function, found through the template's CodeUri and Handler, loaded the way Lambda loads it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from cdgpt.api.contract import failure
from cdgpt.limits import MAX_BODY_BYTES

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str  # the template's logical id
    code_dir: Path
    handler: str  # "module.function"


class _CfnLoader:
    """A YAML loader that accepts CloudFormation's short tags (!Ref, !Sub, ...) as plain values."""

    @staticmethod
    def load(text: str) -> dict[str, Any]:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        def any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
            if isinstance(node, yaml.ScalarNode):
                return loader.construct_scalar(node)
            if isinstance(node, yaml.SequenceNode):
                return loader.construct_sequence(node, deep=True)
            assert isinstance(node, yaml.MappingNode)
            return loader.construct_mapping(node, deep=True)

        Loader.add_multi_constructor("!", any_tag)
        return yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader subclass


def template_routes(template: Path) -> list[Route]:
    """Every `Api` event of every function in the template."""
    doc = _CfnLoader.load(template.read_text())
    routes = []
    for name, resource in doc.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in props.get("Events", {}).values():
            if event.get("Type") == "Api":
                routes.append(
                    Route(
                        method=event["Properties"]["Method"].upper(),
                        path=event["Properties"]["Path"],
                        function=name,
                        code_dir=(template.parent / props["CodeUri"]).resolve(),
                        handler=props["Handler"],
                    )
                )
    return routes


def load_module(route: Route) -> ModuleType:
    """The route's handler module, imported from its CodeUri as Lambda would (once per process)."""
    module_name = route.handler.rpartition(".")[0]
    name = f"cdgpt_handler_{route.function}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, route.code_dir / f"{module_name}.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"handler module for {route.function} not found in {route.code_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_handler(route: Route) -> Handler:
    return getattr(load_module(route), route.handler.rpartition(".")[2])


def openapi_document(template: Path) -> dict[str, Any]:
    """One OpenAPI document for every route, generated from the handlers' own request/response models."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

    document: dict[str, Any] = {}
    for route in template_routes(template):
        app = load_module(route).app
        schema = app.get_openapi_schema(
            title="Custom Data GPT",
            version="1.0.0",
            description="Train on company documents; chat with answers grounded in them, with sources.",
            security_schemes={"bearer": HTTPBearer(), "apiKey": APIKey(name="x-api-key", **{"in": APIKeyIn.header})},
            security=[{"bearer": []}, {"apiKey": []}],
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        if not document:
            document = schema
        else:
            document["paths"].update(schema["paths"])
            for kind, items in schema.get("components", {}).items():
                document.setdefault("components", {}).setdefault(kind, {}).update(items)
    return document


def api_gateway_event(
    method: str, path: str, headers: dict[str, str], body: str | None, source_ip: str
) -> dict[str, Any]:
    """An API Gateway REST proxy event, as the Lambda receives it."""
    request_id = str(uuid.uuid4())
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")},
        },
    }


def lambda_context(function: str, request_id: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=function,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:local:000000000000:function:{function}",
        memory_limit_in_mb=1024,
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{function}",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: 900_000,  # no 30 s limit of our own
    )


def make_server(template: Path, host: str, port: int) -> ThreadingHTTPServer:
    routes = {(r.method, r.path): (r, load_handler(r)) for r in template_routes(template)}

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            if self.close_connection:  # tell the client, or it may reuse the socket we are about to close
                self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _reply(self, status: int, msg: str) -> None:
            self.close_connection = True
            self._send(status, {"Content-Type": "application/json"}, json.dumps(failure(msg)).encode())

        def _dispatch(self) -> None:
            path = self.path.split("?", 1)[0]
            found = routes.get((self.command, path))
            if found is None:
                return self._reply(404, f"no route {self.command} {path}")
            length = self.headers.get("Content-Length", "0")
            if not length.isdigit():
                return self._reply(400, "bad Content-Length")
            if int(length) > MAX_BODY_BYTES:
                return self._reply(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
            raw = self.rfile.read(int(length))
            try:
                body = raw.decode() if raw else None
            except UnicodeDecodeError:
                return self._reply(400, "request body is not UTF-8")
            route, handler = found
            event = api_gateway_event(self.command, path, dict(self.headers.items()), body, self.client_address[0])
            request_id = event["requestContext"]["requestId"]
            try:
                result = handler(event, lambda_context(route.function, request_id))
            except Exception:  # what API Gateway does when the function itself fails
                self.log_error("handler %s failed:\n%s", route.function, traceback.format_exc())
                return self._reply(500, f"internal error; request id {request_id}")
            headers = dict((result.get("headers") or {}).items())
            for name, values in (result.get("multiValueHeaders") or {}).items():
                headers.setdefault(name, values[-1])
            self._send(int(result["statusCode"]), headers, (result.get("body") or "").encode())
            return None

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch  # noqa: N815

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    return ThreadingHTTPServer((host, port), RequestHandler)
