"""The Lambda handlers as the tests call them: API Gateway events from events/, moto S3 and SSM.

from tests.support.lambda_events import api_secret, aws, moto_aws  # noqa: F401
"""

from __future__ import annotations

import copy
import json

import boto3
import pytest
from moto import mock_aws

from cdgpt.clients import reset_clients
from cdgpt.local.server import lambda_context, load_handler, template_routes
from tests.support import REPO, check_envelope

EVENTS = REPO / "events"
HANDBOOK = REPO / "samples/handbook"
SECRET = "local-test-secret"
ARTIFACTS = "cdgpt-artifacts"
SOURCES = "cdgpt-sources"
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"  # the events' requestContext.requestId
WRONG_SECRET = "not-the-secret-0123456789"
NO_SECRET_MSG = "the API has no secret configured: send an API key (cdgpt keys create)"
BAD_SECRET_MSG = "missing or wrong API secret: send Authorization: Bearer <secret>"
NOT_JSON_MSG = "send the body as JSON with Content-Type: application/json"
ROUTES = {(route.method, route.path): route for route in template_routes(REPO / "template.yaml")}
train_handler = load_handler(ROUTES["POST", "/train"])
chat_handler = load_handler(ROUTES["POST", "/chat"])


# -- helpers ----------------------------------------------------------------------------------------


def event(name: str, body: object = ..., headers: dict[str, str | None] | None = None) -> dict:
    """events/<name>.json; `body` replaces the body (a str as is, anything else as JSON); headers set or drop (None)."""
    loaded = json.loads((EVENTS / f"{name}.json").read_text("utf-8"))
    if body is not ...:
        loaded["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    for header, value in (headers or {}).items():
        for key in [k for k in loaded["headers"] if k.lower() == header.lower()]:
            del loaded["headers"][key]
            del loaded["multiValueHeaders"][key]
        if value is not None:
            loaded["headers"][header] = value
            loaded["multiValueHeaders"][header] = [value]
    return loaded


def invoke(handler, evt: dict, function: str = "Function") -> dict:
    return handler(copy.deepcopy(evt), lambda_context(function, "lambda-request-1"))


def train(evt: dict | None = None) -> dict:
    return invoke(train_handler, evt or event("train"), "TrainFunction")


def chat(evt: dict | None = None) -> dict:
    return invoke(chat_handler, evt or event("chat"), "ChatFunction")


def envelope(result: dict, status: int) -> dict:
    """The API Gateway proxy result's status and JSON envelope; returns the parsed body."""
    assert result["statusCode"] == status, result
    # routed responses carry multiValueHeaders, the guard's refusals plain headers: exactly one of them
    content_types = [
        *(result.get("multiValueHeaders") or {}).get("Content-Type", []),
        *filter(None, [(result.get("headers") or {}).get("Content-Type")]),
    ]
    assert content_types == ["application/json"], result
    return check_envelope(json.loads(result["body"]), status)


def manifest_version(s3, model: str) -> int:
    return json.loads(s3.get_object(Bucket=ARTIFACTS, Key=f"models/{model}/manifest.json")["Body"].read())["version"]


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_aws():
    """moto for the whole module (starting it per test costs more than the tests): the two buckets, the handbook."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=ARTIFACTS)
        s3.create_bucket(Bucket=SOURCES)
        for path in sorted(HANDBOOK.iterdir()):
            s3.put_object(Bucket=SOURCES, Key=f"handbook/{path.name}", Body=path.read_bytes())
        yield s3


@pytest.fixture
def aws(moto_aws, monkeypatch):
    """An empty artifacts bucket (ARTIFACTS_BUCKET), the handbook under s3://cdgpt-sources/handbook/, no SSM parameters."""
    from aws_lambda_powertools.utilities import parameters

    s3, ssm = moto_aws, boto3.client("ssm", region_name="us-east-1")
    keys = [{"Key": item["Key"]} for item in s3.list_objects_v2(Bucket=ARTIFACTS).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=ARTIFACTS, Delete={"Objects": keys})
    names = [p["Name"] for p in ssm.describe_parameters().get("Parameters", [])]
    if names:
        ssm.delete_parameters(Names=names)
    parameters.clear_caches()  # Powertools caches parameter values (and its SSM client) per process
    monkeypatch.setenv("ARTIFACTS_BUCKET", ARTIFACTS)
    reset_clients()
    yield s3
    parameters.clear_caches()
    reset_clients()


@pytest.fixture
def api_secret(monkeypatch, aws):
    monkeypatch.setenv("API_SECRET", SECRET)
    reset_clients()
    return SECRET


def route_event(method: str, resource: str, path_parameters: dict[str, str] | None = None, body: object = None) -> dict:
    """An API Gateway event for any route of the template (events/train.json's headers and context)."""
    loaded = event("train", body=body)
    path = resource.format(**(path_parameters or {}))
    loaded.update(resource=resource, path=path, httpMethod=method, pathParameters=path_parameters)
    loaded["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/Prod{path}")
    return loaded


def management(method: str, resource: str, path_parameters: dict[str, str] | None = None, body: object = None) -> dict:
    """Call the template's handler for that route."""
    return invoke(
        load_handler(ROUTES[method, resource]), route_event(method, resource, path_parameters, body), "TrainFunction"
    )
