"""`cdgpt serve`: the API routes declared in template.yaml, on a local HTTP port, without Docker.

Each request becomes the API Gateway (REST, proxy) event the Lambda would receive (`gateway.py`) and
goes to the same handler function, found through the template's CodeUri and Handler and loaded the
way Lambda loads it, in a worker process of its own (`workers.py`). HTTP is uvicorn's, over h11
(`asgi.py`, `protocol.py`): framing, keep-alive, limits and timeouts.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

READ_TIMEOUT_S = 30.0  # for a request head, or a body, to arrive
MAX_WORKERS = 4  # worker processes per function while requests overlap (each holds its own models)
KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this
SHUTDOWN_GRACE_S = 5  # requests still running at Ctrl-C get this long
BACKLOG = 1024  # connections the kernel queues before accept; the kernel caps it at net.core.somaxconn
SWEEP_S = 3600.0  # how often expired conversations leave a local folder (S3's lifecycle rule does it there)

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


_loading = threading.RLock()  # two threads' first calls must not see a module still being executed


def load_module(route: Route) -> ModuleType:
    """The route's handler module, imported from its CodeUri as Lambda would (once per process)."""
    module_name = route.handler.rpartition(".")[0]
    name = f"cdgpt_handler_{route.function}"
    with _loading:
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
        app = getattr(load_module(route), "app", None)
        if app is None:  # the chat page's function: not part of the API
            continue
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


def lambda_context(function: str, request_id: str, response_sink: Any = None) -> SimpleNamespace:
    """The Lambda context a handler gets; `response_sink` lets it stream its reply (`api/streaming.py`)."""
    return SimpleNamespace(
        response_sink=response_sink,
        function_name=function,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:local:000000000000:function:{function}",
        memory_limit_in_mb=1024,
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{function}",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: 900_000,  # no 30 s limit of our own
    )


def sweep_conversations() -> None:
    """Expired conversations out of the local folder, now and every SWEEP_S (none when models are on S3)."""
    from cdgpt.answer.conversations import forget_expired
    from cdgpt.models.store import default_store
    from cdgpt.settings import get_settings

    settings = get_settings()
    if settings.artifacts_bucket:
        return
    try:
        forget_expired(default_store(settings), settings)
    except Exception:  # the next sweep tries again; serving goes on
        print("could not sweep expired conversations", file=sys.stderr, flush=True)
    timer = threading.Timer(SWEEP_S, sweep_conversations)
    timer.daemon = True
    timer.start()


def serve(
    template: Path,
    host: str,
    port: int,
    *,
    workers: int = 1,
    max_workers: int = MAX_WORKERS,
    read_timeout: float = READ_TIMEOUT_S,
) -> None:
    """Serve the template's routes on uvicorn (h11) until interrupted; each function in `workers`
    processes, and up to `max_workers` while requests overlap."""
    import uvicorn

    from cdgpt.local.asgi import App
    from cdgpt.local.gateway import RouteTable
    from cdgpt.local.protocol import protocol_with
    from cdgpt.local.workers import Pool

    routes = template_routes(template)
    functions = dict.fromkeys(route.function for route in routes)
    pools = {name: Pool(template, name, workers, max_workers) for name in functions}

    def ready() -> None:
        served = ", ".join(f"{route.method} {route.path}" for route in routes)
        print(f"serving {served} on http://{host}:{port}", file=sys.stderr, flush=True)
        threading.Thread(target=sweep_conversations, daemon=True).start()

    config = uvicorn.Config(
        App(RouteTable(routes), pools, read_timeout, ready),
        host=host,
        port=port,
        http=protocol_with(read_timeout),
        ws="none",
        lifespan="on",
        backlog=BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        proxy_headers=False,  # the peer address is the client's: no X-Forwarded-For from anyone
        server_header=False,
        log_level="info",
    )
    uvicorn.Server(config).run()
