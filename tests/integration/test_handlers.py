"""The Lambda handlers (functions/*/app.py) with the API Gateway and EventBridge events in events/, on moto.

The handlers are loaded from template.yaml's CodeUri/Handler the way `cdgpt serve` and Lambda load them.
Artifacts go to a moto bucket (ARTIFACTS_BUCKET); the train event's source is s3://cdgpt-sources/handbook/.
"""

from __future__ import annotations

import copy
import json
import logging
import sys

import boto3
import pytest
from moto import mock_aws

from cdgpt import secrets
from cdgpt.answer.answering import EXTRACTIVE_LABEL
from cdgpt.clients import reset_clients
from cdgpt.errors import InvalidRequest
from cdgpt.limits import MAX_BODY_BYTES
from cdgpt.local.server import lambda_context, load_handler, template_routes
from cdgpt.training import pipeline as training
from tests.support import REPO, check_envelope
from tests.support.fixtures_openai import API_KEY, openai_stub  # noqa: F401
from tests.support.openai_stub import stub_answer

EVENTS = REPO / "events"
HANDBOOK = REPO / "samples/handbook"
SECRET = "local-test-secret"
ARTIFACTS = "cdgpt-artifacts"
SOURCES = "cdgpt-sources"
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"  # the events' requestContext.requestId
WRONG_SECRET = "not-the-secret-0123456789"
NO_SECRET_MSG = "the API has no secret configured, so every request is refused"
BAD_SECRET_MSG = "missing or wrong API secret: send Authorization: Bearer <secret>"
NOT_JSON_MSG = "send the body as JSON with Content-Type: application/json"
# Sentences of the handbook that must never reach the logs (the chat answer quotes the first one).
DOCUMENT_TEXT = [
    "of paid annual leave per leave year",
    "The IT helpdesk is open",
    "Personal USB drives are blocked",
]

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ROUTES = {route.path: route for route in template_routes(REPO / "template.yaml")}
train_handler = load_handler(ROUTES["/train"])
chat_handler = load_handler(ROUTES["/chat"])


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
    secrets.export_openai_key.cache_clear()
    monkeypatch.setenv("ARTIFACTS_BUCKET", ARTIFACTS)
    reset_clients()
    yield s3
    parameters.clear_caches()
    secrets.export_openai_key.cache_clear()
    reset_clients()


@pytest.fixture
def api_secret(monkeypatch, aws):
    monkeypatch.setenv("API_SECRET", SECRET)
    reset_clients()
    return SECRET


@pytest.fixture
def trained(api_secret, aws) -> dict:
    """The handbook model, trained through the train event; returns the envelope's data."""
    return envelope(train(), 200)["data"]


class CurrentStdout:
    """Writes to whatever sys.stdout is at the time of the write (capsys swaps it between test phases)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def logs(capsys, monkeypatch):
    """Everything the handlers log or print: the Powertools logger's handlers write to the captured stdout.

    Powertools binds its handler to the sys.stdout of the moment the module was imported, which is not
    this test's captured stream, so point it at the current one (restored afterwards).
    """
    handlers = [h for h in logging.getLogger("cdgpt").handlers if isinstance(h, logging.StreamHandler)]
    assert handlers, "the Powertools logger has no stream handler"
    for handler in handlers:
        monkeypatch.setattr(handler, "stream", CurrentStdout())

    def read() -> str:
        out, err = capsys.readouterr()
        return out + err

    return read


# -- train and chat ---------------------------------------------------------------------------------


def test_train_event_returns_the_exact_success_envelope(api_secret, aws):
    result = train()
    body = envelope(result, 200)
    data = body["data"]
    assert body["code"] == 0 and body["msg"] == "success"
    assert list(data) == [
        "model_name",
        "index_model_size",
        "pkl_model_size",
        "lexical_model_size",
        "size_type",
        "version",
        "version_id",
        "documents",
        "chunks",
        "chunks_embedded",
        "documents_unchanged",
        "sources",
    ]
    assert data["model_name"] == "handbook"
    assert data["size_type"] == "kb"
    assert data["version"] == 1 == manifest_version(aws, "handbook")
    assert isinstance(data["index_model_size"], float) and data["index_model_size"] > 0
    assert isinstance(data["pkl_model_size"], float) and data["pkl_model_size"] > 0
    assert data["documents"] == len(list(HANDBOOK.iterdir()))
    assert data["sources"] == [{"entry": "s3://cdgpt-sources/handbook/", "status": "ok", "reason": None}]
    # the sizes are the stored objects' sizes in KB
    manifest = json.loads(aws.get_object(Bucket=ARTIFACTS, Key="models/handbook/manifest.json")["Body"].read())
    index = aws.head_object(Bucket=ARTIFACTS, Key=f"models/handbook/{manifest['files']['index']}")
    docstore = aws.head_object(Bucket=ARTIFACTS, Key=f"models/handbook/{manifest['files']['docstore']}")
    assert data["index_model_size"] == round(index["ContentLength"] / 1024, 4)
    assert data["pkl_model_size"] == round(docstore["ContentLength"] / 1024, 4)
    assert data["version_id"] == manifest["version_id"]


def test_training_again_bumps_the_version(trained, aws):
    assert trained["version"] == 1
    assert envelope(train(), 200)["data"]["version"] == 2 == manifest_version(aws, "handbook")


def test_chat_event_answers_with_s3_sources_and_history(trained):
    data = envelope(chat(), 200)["data"]
    handbook_uris = {f"s3://{SOURCES}/handbook/{p.name}" for p in HANDBOOK.iterdir()}
    sources = [s["source"] for s in data["sources"]]
    assert sources and set(sources) <= handbook_uris
    assert sources[0] == f"s3://{SOURCES}/handbook/leave-and-holidays.md"
    assert data["answer"].startswith(EXTRACTIVE_LABEL) and "25 days" in data["answer"]
    assert data["history"] == [
        "Human: Hello",
        "Bot: Hello! Ask me about the handbook.",
        "Human: How many days of annual leave do I get?",
        f"Bot: {data['answer']}",
    ]
    assert data["model_version"] == 1 and data["answer_mode"] == "extractive"
    assert all(set(s) == {"source", "title", "score", "snippet", "page", "url"} for s in data["sources"])


def test_legacy_event_with_the_secret_in_the_body_works(trained):
    evt = event("chat-legacy-secret")
    assert not any(k.lower() in ("authorization", "x-api-key") for k in evt["headers"])
    data = envelope(chat(evt), 200)["data"]
    assert f"s3://{SOURCES}/handbook/it-and-security.html" in [s["source"] for s in data["sources"]]
    assert "2300" in data["answer"]


def test_x_api_key_header_works(trained):
    evt = event("chat", headers={"Authorization": None, "x-api-key": SECRET})
    assert envelope(chat(evt), 200)["data"]["sources"]


# -- refusals before routing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": None},
        {"Authorization": f"Bearer {WRONG_SECRET}"},
        {"Authorization": f"Bearer {SECRET}x"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": None, "x-api-key": WRONG_SECRET},
    ],
    ids=["missing", "wrong-bearer", "longer-bearer", "empty-bearer", "basic-scheme", "wrong-x-api-key"],
)
@pytest.mark.parametrize("name", ["train", "chat"])
def test_missing_or_wrong_secret_is_401(api_secret, name, headers):
    handler = train_handler if name == "train" else chat_handler
    body = envelope(invoke(handler, event(name, headers=headers)), 401)
    assert body == {"code": 1, "msg": BAD_SECRET_MSG, "data": None}


def test_wrong_secret_in_the_body_is_401(api_secret):
    evt = event("chat-legacy-secret", body={"model_name": "handbook", "question": "Hi?", "secret": WRONG_SECRET})
    assert envelope(chat(evt), 401)["msg"] == BAD_SECRET_MSG


def test_a_wrong_header_is_not_rescued_by_a_right_body_secret(api_secret):
    evt = event("chat-legacy-secret", headers={"Authorization": f"Bearer {WRONG_SECRET}"})
    assert json.loads(evt["body"])["secret"] == SECRET
    assert envelope(chat(evt), 401)["msg"] == BAD_SECRET_MSG


@pytest.mark.parametrize("where", ["body", "header"])
def test_a_secret_that_is_not_valid_unicode_is_401_not_a_crash(api_secret, where):
    """A JSON body can carry a lone surrogate ("\\ud800"); comparing it must refuse, not raise."""
    if where == "body":
        evt = event("chat-legacy-secret", body='{"model_name": "handbook", "question": "Hi?", "secret": "\\ud800"}')
    else:
        evt = event("chat", headers={"Authorization": "Bearer \ud800"})
    assert envelope(chat(evt), 401)["msg"] == BAD_SECRET_MSG


def test_auth_is_checked_before_validation_and_routing(api_secret):
    evt = event("train", body="{not json", headers={"Authorization": None})
    assert envelope(train(evt), 401)["msg"] == BAD_SECRET_MSG
    evt = event("train", body={"model_name": "../x"}, headers={"Authorization": None})
    assert envelope(train(evt), 401)["msg"] == BAD_SECRET_MSG


@pytest.mark.parametrize("configured", ["unset", "empty"])
def test_without_a_configured_secret_everything_is_401(aws, monkeypatch, configured):
    if configured == "empty":
        monkeypatch.setenv("API_SECRET", "")
        reset_clients()
    cases = [
        (train_handler, event("train")),
        (chat_handler, event("chat")),
        (chat_handler, event("chat-legacy-secret")),
        (chat_handler, event("chat", headers={"Authorization": None, "x-api-key": SECRET})),
        (chat_handler, event("chat", headers={"Authorization": None})),
    ]
    for handler, evt in cases:
        assert envelope(invoke(handler, evt), 401) == {"code": 1, "msg": NO_SECRET_MSG, "data": None}
    # nothing was trained
    assert aws.list_objects_v2(Bucket=ARTIFACTS).get("KeyCount") == 0


def test_the_secret_can_come_from_ssm(aws, monkeypatch):
    """API_SECRET_PARAM names an SSM SecureString, fetched with Powertools parameters (as deployed)."""
    held = "ssm-held-secret-42"
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/cdgpt/api-secret", Value=held, Type="SecureString"
    )
    monkeypatch.setenv("API_SECRET_PARAM", "/cdgpt/api-secret")
    reset_clients()

    ok = event("train", headers={"Authorization": f"Bearer {held}"})
    assert envelope(train(ok), 200)["data"]["version"] == 1
    assert envelope(train(event("train")), 401)["msg"] == BAD_SECRET_MSG  # the local secret is not it
    data = envelope(chat(event("chat", headers={"Authorization": None, "x-api-key": held})), 200)["data"]
    assert data["sources"][0]["source"].startswith(f"s3://{SOURCES}/handbook/")


@pytest.mark.parametrize("setting", ["API_SECRET_PARAM", "OPENAI_API_KEY_PARAM"])
def test_a_secret_that_cannot_be_read_is_a_500_envelope_with_the_request_id(api_secret, aws, monkeypatch, setting):
    """A parameter that does not exist (or may not be read) refuses the request, inside the envelope."""
    monkeypatch.setenv(setting, "/cdgpt/no-such-parameter")
    if setting == "API_SECRET_PARAM":
        monkeypatch.delenv("API_SECRET")  # a local secret would be used first
    reset_clients()
    evt = event("chat")
    body = envelope(chat(evt), 500)
    assert body["msg"] == f"internal error; request id {evt['requestContext']['requestId']}"
    assert "no-such-parameter" not in body["msg"]


def test_an_oversized_body_is_413_before_auth(aws):
    filler = "x" * MAX_BODY_BYTES
    evt = event("chat", body={"model_name": "handbook", "question": filler}, headers={"Authorization": None})
    assert len(evt["body"].encode()) > MAX_BODY_BYTES
    assert envelope(chat(evt), 413)["msg"] == f"request body is larger than {MAX_BODY_BYTES} bytes"


def test_a_body_of_exactly_the_limit_is_not_413(api_secret):
    evt = event("chat", body="")
    skeleton = json.dumps({"model_name": "handbook", "question": ""})
    evt["body"] = json.dumps({"model_name": "handbook", "question": "x" * (MAX_BODY_BYTES - len(skeleton))})
    assert len(evt["body"].encode()) == MAX_BODY_BYTES
    assert envelope(chat(evt), 422)["msg"].startswith("question: ")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", ...),
        ("application/x-www-form-urlencoded", "model_name=handbook&question=Hi"),
        ("application/vnd.api+json; charset=utf-8", ...),  # passes the guard, Powertools cannot parse it
        ("APPLICATION/JSON", ...),  # idem: Powertools compares case-sensitively
        ("text/plain", ""),  # no body: passes the guard, then the same
    ],
    ids=["text", "form", "plus-json", "upper-case", "empty-text"],
)
def test_a_non_json_content_type_is_415(api_secret, content_type, body):
    evt = event("chat", body=body, headers={"Content-Type": content_type})
    assert envelope(chat(evt), 415) == {"code": 1, "msg": NOT_JSON_MSG, "data": None}


def test_json_content_type_parameters_and_a_missing_content_type_are_json(api_secret):
    question = {"model_name": "nope", "question": "Hi?"}
    assert envelope(
        chat(event("chat", body=question, headers={"Content-Type": "application/json; charset=utf-8"})), 404
    )
    assert envelope(chat(event("chat", body=question, headers={"Content-Type": None})), 404)


# -- validation and domain errors -------------------------------------------------------------------


def test_unknown_model_is_404(api_secret):
    body = envelope(chat(event("chat", body={"model_name": "nope", "question": "Hello?"})), 404)
    assert body["msg"] == "model 'nope' has not been trained"


@pytest.mark.parametrize("name", ["../etc", "-leading-dash", "a" * 65, "has space", ""])
@pytest.mark.parametrize("route", ["train", "chat"])
def test_an_invalid_model_name_is_422(api_secret, route, name):
    fields = {"file_list": ["s3://cdgpt-sources/handbook/"]} if route == "train" else {"question": "Hello?"}
    handler = train_handler if route == "train" else chat_handler
    body = envelope(invoke(handler, event(route, body={"model_name": name, **fields})), 422)
    assert body["msg"].startswith("model_name: ")


def test_a_dot_dot_model_name_is_refused(api_secret):
    """'a..b' matches the name pattern, but the request model refuses it like any invalid field (422)."""
    body = envelope(chat(event("chat", body={"model_name": "a..b", "question": "Hello?"})), 422)
    assert body["msg"] == "model_name: Value error, model_name must not contain '..'"


@pytest.mark.parametrize("raw", ["{not json", '{"model_name": "handbook",', "", "\u00ff"])
def test_a_body_that_is_not_json_is_400_or_422(api_secret, raw):
    result = train(event("train", body=raw))
    if raw:
        assert envelope(result, 400) == {"code": 1, "msg": "request body is not valid JSON", "data": None}
    else:  # no body at all: the required body is missing
        assert envelope(result, 422)["msg"] == "body: Field required"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model_name": "handbook", "file_list": [1, 2]}, "file_list.0"),
        ({"model_name": "handbook", "file_list": []}, "file_list"),
        ({"model_name": "handbook", "file_list": "s3://cdgpt-sources/handbook/"}, "file_list"),
        ({"model_name": "handbook"}, "file_list"),
        ({"model_name": 7, "file_list": ["a"]}, "model_name"),
        ({"model_name": "handbook", "file_list": ["a"], "prompt": 3}, "prompt"),
        ([1, 2], "body"),
    ],
    ids=["ints", "empty", "string", "missing", "name-int", "prompt-int", "array"],
)
def test_wrong_types_are_422_naming_the_field(api_secret, aws, body, field):
    msg = envelope(train(event("train", body=body)), 422)["msg"]
    assert msg.startswith(f"{field}: "), msg
    assert aws.list_objects_v2(Bucket=ARTIFACTS).get("KeyCount") == 0


def test_unknown_route_is_404(api_secret):
    evt = event("chat")
    evt["path"] = evt["resource"] = evt["requestContext"]["resourcePath"] = "/admin"
    assert envelope(chat(evt), 404)["msg"] == "no route POST /admin"


def test_a_source_that_fails_is_422_and_keeps_serving_the_old_model(trained, aws):
    evt = event("train", body={"model_name": "handbook", "file_list": ["s3://cdgpt-sources/missing/"]})
    msg = envelope(train(evt), 422)["msg"]
    assert msg.startswith("no source could be used (s3://cdgpt-sources/missing/: no objects under")
    assert manifest_version(aws, "handbook") == 1
    assert envelope(chat(), 200)["data"]["model_version"] == 1


def test_a_crash_is_500_with_the_request_id_and_no_detail(api_secret, monkeypatch, logs):
    def boom(*args, **kwargs):
        raise RuntimeError("secret-ish detail")

    monkeypatch.setattr(training, "train", boom)
    result = train()
    body = envelope(result, 500)
    assert body["msg"] == f"internal error; request id {REQUEST_ID}"
    assert "secret-ish detail" not in result["body"] and "Traceback" not in result["body"]
    # the operator gets the detail in the logs, tied to the request id
    logged = logs()
    assert "unexpected error" in logged and "secret-ish detail" in logged and REQUEST_ID in logged


# -- scheduled retraining ---------------------------------------------------------------------------


def test_scheduled_event_retrains_the_named_model(trained, aws):
    scheduled = json.loads((EVENTS / "retrain-scheduled.json").read_text())
    summary = train_handler(scheduled, lambda_context("TrainFunction", "scheduled-1"))
    assert summary == {
        "retrained": [{"model_name": "handbook", "version": 2, "chunks": trained["chunks"]}],
        "failed": {},
    }
    assert manifest_version(aws, "handbook") == 2
    assert envelope(chat(), 200)["data"]["model_version"] == 2


def test_scheduled_event_without_input_retrains_every_model(trained, aws):
    one_file = event(
        "train", body={"model_name": "leave", "file_list": [f"s3://{SOURCES}/handbook/leave-and-holidays.md"]}
    )
    leave = envelope(train(one_file), 200)["data"]
    assert leave["documents"] == 1 and leave["chunks"] < trained["chunks"]
    scheduled = json.loads((EVENTS / "retrain-all-scheduled.json").read_text())
    summary = train_handler(scheduled, lambda_context("TrainFunction", "scheduled-2"))
    assert summary == {
        "retrained": [
            {"model_name": "handbook", "version": 2, "chunks": trained["chunks"]},
            {"model_name": "leave", "version": 2, "chunks": leave["chunks"]},
        ],
        "failed": {},
    }
    assert manifest_version(aws, "handbook") == 2 and manifest_version(aws, "leave") == 2
    # the retrain used each manifest's own sources
    manifest = json.loads(aws.get_object(Bucket=ARTIFACTS, Key="models/leave/manifest.json")["Body"].read())
    assert [s["entry"] for s in manifest["sources"]] == [f"s3://{SOURCES}/handbook/leave-and-holidays.md"]


def test_scheduled_retrain_of_an_unknown_model_is_reported_not_raised(trained, aws):
    summary = train_handler({"retrain": "nope, handbook"}, lambda_context("TrainFunction", "scheduled-3"))
    assert summary["failed"] == {"nope": "model 'nope' has not been trained"}
    assert [r["model_name"] for r in summary["retrained"]] == ["handbook"]
    assert manifest_version(aws, "handbook") == 2


def test_scheduled_event_needs_no_secret_and_a_malformed_one_raises(aws):
    """Schedules are not API requests: no secret involved; a broken schedule input fails the invocation."""
    assert train_handler({"retrain": []}, lambda_context("TrainFunction", "s")) == {"retrained": [], "failed": {}}
    with pytest.raises(InvalidRequest, match="a scheduled event needs"):
        train_handler({"retrain": 5}, lambda_context("TrainFunction", "s"))


# -- logs -------------------------------------------------------------------------------------------


def test_logs_hold_neither_the_secret_nor_document_text(trained, monkeypatch, logs):
    logs()  # drop what training printed before the capture was pointed at this test
    answered = envelope(chat(), 200)["data"]
    envelope(chat(event("chat-legacy-secret")), 200)  # the secret travels in the body
    envelope(chat(event("chat", headers={"Authorization": f"Bearer {WRONG_SECRET}"})), 401)
    envelope(chat(event("chat", body={"model_name": "nope", "question": "Hello?"})), 404)
    envelope(train(), 200)

    def crash(*args, **kwargs):
        raise RuntimeError("crash")

    monkeypatch.setattr(training, "train", crash)
    envelope(train(), 500)
    logged = logs()

    # the capture works: the refusal, the domain error, the crash and the metrics are all there
    for expected in ('"request refused"', '"request failed"', '"unexpected error"', "ChunksIndexed", "Answers"):
        assert expected in logged, expected
    assert SECRET not in logged and WRONG_SECRET not in logged
    assert answered["answer"] not in logged
    for text in DOCUMENT_TEXT:
        assert text in "".join(p.read_text("utf-8") for p in HANDBOOK.iterdir())
        assert text not in logged, text


# -- OpenAI through the stub, with its key from SSM -------------------------------------------------


def test_openai_key_from_ssm_reaches_the_provider(api_secret, aws, monkeypatch, openai_stub, logs):
    """OPENAI_API_KEY_PARAM names an SSM SecureString; the handler exports it once and the SDK sends it."""
    ssm_key = "sk-from-ssm-0123456789"
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/cdgpt/openai-key", Value=ssm_key, Type="SecureString"
    )
    monkeypatch.delenv("OPENAI_API_KEY")  # restored (to unset) after the test by the fixture's setenv
    monkeypatch.setenv("OPENAI_API_KEY_PARAM", "/cdgpt/openai-key")
    reset_clients()

    trained = envelope(train(), 200)["data"]
    assert trained["version"] == 1
    data = envelope(chat(), 200)["data"]
    assert data["answer_mode"] == "llm"
    assert data["answer"].startswith(stub_answer(len(data["sources"]), 0).split(";")[0])
    assert data["sources"][0]["source"] == f"s3://{SOURCES}/handbook/leave-and-holidays.md"
    assert openai_stub.embedding_requests and openai_stub.chat_requests
    assert {r.headers["authorization"] for r in openai_stub.requests} == {f"Bearer {ssm_key}"}
    assert API_KEY not in {r.headers["authorization"].removeprefix("Bearer ") for r in openai_stub.requests}
    assert ssm_key not in logs()


def test_a_body_nested_too_deep_to_parse_is_refused_as_unauthenticated(aws, api_secret):
    evt = event("chat", body="[" * 200_000, headers={"Authorization": None})
    assert envelope(chat(evt), 401)["msg"] == BAD_SECRET_MSG
