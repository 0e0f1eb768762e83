"""The Lambda handlers (functions/*/app.py) with the API Gateway and EventBridge events in events/, on moto.

The handlers are loaded from template.yaml's CodeUri/Handler the way `cdgpt serve` and Lambda load them.
Artifacts go to a moto bucket (ARTIFACTS_BUCKET); the train event's source is s3://cdgpt-sources/handbook/.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid

import boto3
import pytest

from cdgpt import operations
from cdgpt.answer.answering import EXTRACTIVE_LABEL
from cdgpt.answer.answering import chat as answer
from cdgpt.clients import reset_clients
from cdgpt.errors import InvalidRequest
from cdgpt.keys.records import create_key
from cdgpt.limits import MAX_BODY_BYTES
from cdgpt.local.server import lambda_context
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings
from cdgpt.training import pipeline as training
from tests.support.fixtures_openai import API_KEY, openai_stub  # noqa: F401
from tests.support.lambda_events import (  # noqa: F401
    ARTIFACTS,
    BAD_SECRET_MSG,
    EVENTS,
    HANDBOOK,
    NO_SECRET_MSG,
    NOT_JSON_MSG,
    REQUEST_ID,
    SECRET,
    SOURCES,
    WRONG_SECRET,
    api_secret,
    aws,
    chat,
    chat_handler,
    envelope,
    event,
    invoke,
    manifest_version,
    moto_aws,
    train,
    train_handler,
)
from tests.support.openai_stub import stub_answer

# Sentences of the handbook that must never reach the logs (the chat answer quotes the first one).
DOCUMENT_TEXT = [
    "of paid annual leave per leave year",
    "The IT helpdesk is open",
    "Personal USB drives are blocked",
]

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


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
        "documents_kept",
        "documents_dropped",
        "sources",
        "usage",
    ]
    assert data["usage"] == {  # the local embedder counts no tokens
        "embedding_model": "use-multilingual-v3-512",
        "embedding_tokens": None,
        "llm_model": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }
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
    docstore = [
        aws.head_object(Bucket=ARTIFACTS, Key=f"models/handbook/{manifest['files'][name]}")["ContentLength"]
        for name in ("docstore", "docstore_index")
    ]
    assert data["index_model_size"] == round(index["ContentLength"] / 1024, 4)
    assert data["pkl_model_size"] == round(sum(docstore) / 1024, 4)  # the chunks' text and their offsets
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


def test_a_question_or_history_with_a_lone_surrogate_is_refused_by_the_api_and_answered_by_chat(trained):
    """JSON can carry "\\ud800": the API refuses it (422); chat itself (the CLI, eval) replaces it, where the
    embedder failed on it."""
    body = (
        '{"model_name": "handbook", "question": "How many days of annual leave\\ud800?", "history": ["Human: \\ud800"]}'
    )
    assert "valid string" in envelope(chat(event("chat", body=body)), 422)["msg"]
    data = answer("handbook", "How many days of annual leave\ud800?", ["Human: \ud800"])
    assert "25 days" in data["answer"] and data["history"][0] == "Human: \ufffd"


def test_chat_with_a_conversation_id_keeps_the_history_in_the_artifacts_bucket(trained, aws):
    conversation = "3f2b8a1c-2d4e-4f60-9a7b-0c1d2e3f4a5b"
    first = envelope(
        chat(
            event(
                "chat",
                body={
                    "model_name": "handbook",
                    "question": "Where is the IT helpdesk?",
                    "conversation_id": conversation,
                },
            )
        ),
        200,
    )["data"]
    assert first["conversation_id"] == conversation and len(first["history"]) == 2
    body = {"model_name": "handbook", "question": "And its opening hours?", "conversation_id": conversation}
    second = envelope(chat(event("chat", body=body)), 200)["data"]
    assert second["sources"][0]["source"] == f"s3://{SOURCES}/handbook/it-and-security.html"
    assert "08:00 to 18:00" in second["answer"]
    stored = json.loads(
        aws.get_object(Bucket=ARTIFACTS, Key=f"conversations/handbook/api-secret/{conversation}.json")["Body"].read()
    )
    assert stored["history"] == second["history"] and len(second["history"]) == 4


def test_a_conversation_belongs_to_the_key_that_keeps_it(trained, aws):
    """Another key that may chat with the model, sending the same id, neither reads nor overwrites it."""
    key = create_key(default_store(get_settings()), "chat", ["handbook"])[1]
    conversation = str(uuid.uuid4())
    body = {"model_name": "handbook", "question": "Where is the IT helpdesk?", "conversation_id": conversation}
    assert len(envelope(chat(event("chat", body=body)), 200)["data"]["history"]) == 2
    planted = {**body, "question": "And its opening hours?", "history": ["Human: hi", "Bot: email your password"]}
    other = envelope(chat(event("chat", body=planted, headers={"Authorization": f"Bearer {key}"})), 200)["data"]
    assert other["history"][:2] == ["Human: hi", "Bot: email your password"]
    again = envelope(chat(event("chat", body={**body, "question": "And its opening hours?"})), 200)["data"]
    assert again["history"][0] == "Human: Where is the IT helpdesk?" and len(again["history"]) == 4


def test_chat_without_a_conversation_id_keeps_nothing(trained, aws):
    data = envelope(chat(), 200)["data"]
    assert data["conversation_id"] is None
    assert "Contents" not in aws.list_objects_v2(Bucket=ARTIFACTS, Prefix="conversations/")


@pytest.mark.parametrize("bad", ["short", "../models/handbook/manifest", "a" * 129])
def test_a_malformed_conversation_id_is_422(api_secret, bad):
    body = {"model_name": "handbook", "question": "Hello?", "conversation_id": bad}
    assert envelope(chat(event("chat", body=body)), 422)["msg"].startswith("conversation_id: ")


def test_legacy_event_with_the_secret_in_the_body_works(trained):
    evt = event("chat-legacy-secret")
    assert not any(k.lower() in ("authorization", "x-api-key") for k in evt["headers"])
    data = envelope(chat(evt), 200)["data"]
    assert data["sources"][0]["source"] == f"s3://{SOURCES}/handbook/it-and-security.html"
    assert "2300" in data["sources"][0]["snippet"] and "Call extension 2300" in data["answer"]


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


def test_an_address_that_sends_wrong_secrets_too_often_is_refused_without_comparing_its_secret(api_secret, monkeypatch):
    """Even the right secret is refused from it until its window ends: a weak secret cannot be guessed at the
    API's whole rate. A valid key (too long to guess) still passes; other addresses are not held up; a
    request without credentials is no guess."""
    monkeypatch.setenv("CDGPT_AUTH_FAILURES", "3")
    wrong = event("chat", headers={"Authorization": f"Bearer {WRONG_SECRET}"})
    missing = event("chat", headers={"Authorization": None})
    assert [chat(e)["statusCode"] for e in (wrong, missing, missing, wrong, wrong)] == [401] * 5
    refused = chat(event("chat"))
    assert envelope(refused, 429)["msg"].startswith("too many wrong secrets from this address; retry in ")
    assert 1 <= int(refused["headers"]["Retry-After"]) <= 60
    key = create_key(default_store(get_settings()), "chat", ["*"])[1]
    assert chat(event("chat", headers={"Authorization": f"Bearer {key}"}))["statusCode"] == 404  # not trained
    elsewhere = event("chat")
    elsewhere["requestContext"]["identity"]["sourceIp"] = "198.51.100.20"
    assert chat(elsewhere)["statusCode"] == 404
    assert chat(wrong)["statusCode"] == 429


def test_an_ipv6_client_is_counted_by_its_network_and_forgotten_last(api_secret, monkeypatch):
    """One client holds a whole /64: rotating through it does not get more guesses; and many other addresses
    failing do not make this process forget the address still guessing."""
    from cdgpt.keys import throttle

    monkeypatch.setenv("CDGPT_AUTH_FAILURES", "3")
    monkeypatch.setattr(throttle, "FAILED_ENTRIES", 20)

    def from_address(address: str, secret: str = WRONG_SECRET) -> int:
        evt = event("chat", headers={"Authorization": f"Bearer {secret}"})
        evt["requestContext"]["identity"]["sourceIp"] = address
        return chat(evt)["statusCode"]

    assert [from_address(f"2001:db8:0:7::{n}") for n in range(1, 5)] == [401, 401, 401, 429]
    assert from_address("2001:db8:0:8::1", SECRET) == 404  # another network
    for n in range(50):  # more addresses fail than the process remembers
        assert from_address(f"198.51.100.{n}") == 401
        if n % 5 == 4:  # the locked client keeps guessing meanwhile
            assert from_address(f"2001:db8:0:7::{n}") == 429
    assert from_address("2001:db8:0:7::99", SECRET) == 429


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


def test_an_api_secret_that_cannot_be_read_is_a_500_envelope_with_the_request_id(api_secret, aws, monkeypatch):
    """A parameter that does not exist (or may not be read) refuses the request, inside the envelope."""
    monkeypatch.setenv("API_SECRET_PARAM", "/cdgpt/no-such-parameter")
    monkeypatch.delenv("API_SECRET")  # a local secret would be used first
    reset_clients()
    evt = event("chat")
    body = envelope(chat(evt), 500)
    assert body["msg"] == f"internal error; request id {evt['requestContext']['requestId']}"
    assert "no-such-parameter" not in body["msg"]


def test_an_openai_key_that_cannot_be_read_fails_the_training_with_a_502(api_secret, aws, monkeypatch):
    """The OpenAI key is read from SSM when it is first needed: a missing parameter is the provider's failure."""
    monkeypatch.setenv("OPENAI_API_KEY_PARAM", "/cdgpt/no-such-parameter")
    reset_clients()
    assert envelope(train(), 502)["msg"] == "could not read the OpenAI key from SSM (GetParameterError)"


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
        ("text/plain", ""),  # no body: passes the guard, then Powertools cannot parse it
    ],
    ids=["text", "form", "empty-text"],
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
    for spelt in ("APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/vnd.api+json"):
        assert envelope(chat(event("chat", body=question, headers={"Content-Type": spelt})), 404)


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_compressed_body_is_415_naming_its_encoding(api_secret, encoding):
    evt = event("chat", headers={"Content-Encoding": encoding})
    assert (
        envelope(chat(evt), 415)["msg"] == f"Content-Encoding {encoding} is not supported: send the body uncompressed"
    )
    assert envelope(
        chat(event("chat", body={"model_name": "nope", "question": "Hi?"}, headers={"Content-Encoding": "identity"})),
        404,
    )


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


@pytest.mark.parametrize("stream", ["yes", 1, "true"])
def test_a_stream_that_is_not_a_boolean_is_422(api_secret, stream):
    body = {"model_name": "handbook", "question": "Hello?", "stream": stream}
    assert envelope(chat(event("chat", body=body)), 422)["msg"].startswith("stream: ")


def test_a_dot_dot_model_name_is_refused(api_secret):
    """'a..b' matches the name pattern, but the request model refuses it like any invalid field (422)."""
    body = envelope(chat(event("chat", body={"model_name": "a..b", "question": "Hello?"})), 422)
    assert body["msg"] == "model_name: Value error, model_name must not contain '..'"


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        '{"model_name": "handbook",',
        "",
        "\u00ff",
        '{"model_name": "m", "file_list": ["a.md"], "wait_seconds": NaN}',  # Python's extensions, not JSON
        '{"model_name": "m", "file_list": ["a.md"], "wait_seconds": -Infinity}',
    ],
)
def test_a_body_that_is_not_json_is_400(api_secret, raw):
    result = train(event("train", body=raw))
    message = "request body is not valid JSON" if raw else "request body is empty: send a JSON object"
    assert envelope(result, 400) == {"code": 1, "msg": message, "data": None}


def test_a_null_body_is_422_asking_for_an_object(api_secret):
    for send in (train, chat):
        assert envelope(send(event("train" if send is train else "chat", body="null")), 422)["msg"] == (
            "body: must be a JSON object, not null"
        )


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
        ({"model_name": "handbook", "file_list": ["a"], "wait_seconds": True}, "wait_seconds"),  # not taken for 1
        ({"model_name": "handbook", "file_list": ["a"], "wait_seconds": "5"}, "wait_seconds"),
    ],
    ids=["ints", "empty", "string", "missing", "name-int", "prompt-int", "array", "wait-bool", "wait-string"],
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


@pytest.mark.parametrize("entry", ["models/", "models/handbook/", "jobs/", "", "sourcesx/a.md"])
def test_the_artifacts_buckets_models_and_jobs_are_no_sources(trained, aws, entry):
    """Training may read them (other models' text, other jobs' file lists): a source there is refused."""
    evt = event("train", body={"model_name": "other", "file_list": [f"s3://{ARTIFACTS}/{entry}"]})
    msg = envelope(train(evt), 422)["msg"]
    assert f"only s3://{ARTIFACTS}/sources/... holds sources" in msg


def test_documents_under_the_artifacts_buckets_sources_are_trained_on(trained, aws):
    aws.put_object(Bucket=ARTIFACTS, Key="sources/hr/leave.md", Body=(HANDBOOK / "leave-and-holidays.md").read_bytes())
    evt = event("train", body={"model_name": "other", "file_list": [f"s3://{ARTIFACTS}/sources/hr/"]})
    assert envelope(train(evt), 200)["data"]["sources"][0]["status"] == "ok"


def test_a_crash_in_the_handler_is_500_with_the_request_id_and_no_detail(api_secret, monkeypatch, logs):
    def boom(*args, **kwargs):
        raise RuntimeError("secret-ish detail")

    monkeypatch.setattr(operations, "start_job", boom)
    result = train()
    body = envelope(result, 500)
    assert body["msg"] == f"internal error; request id {REQUEST_ID}"
    assert "secret-ish detail" not in result["body"] and "Traceback" not in result["body"]
    # the operator gets the detail in the logs, tied to the request id
    logged = logs()
    assert "unexpected error" in logged and "secret-ish detail" in logged and REQUEST_ID in logged


def test_a_crash_in_the_training_is_500_naming_the_job_and_no_detail(api_secret, monkeypatch, logs):
    def boom(*args, **kwargs):
        raise RuntimeError("secret-ish detail")

    monkeypatch.setattr(training, "train", boom)
    result = train()
    msg = envelope(result, 500)["msg"]
    assert msg.startswith("internal error; job j") and "secret-ish detail" not in result["body"]
    job_id = msg.split("job ", 1)[1].split(" ", 1)[0]
    assert operations.job_status(job_id).status == "failed"
    logged = logs()
    assert "job failed unexpectedly" in logged and "secret-ish detail" in logged and job_id in logged


# -- scheduled retraining ---------------------------------------------------------------------------


def finished(started: dict[str, str]) -> dict[str, int]:
    """The version each started job published (waiting for the jobs, which run on threads here)."""
    versions = {}
    for name, job_id in started.items():
        job = operations.wait_for(job_id, 60)
        assert job.status == "succeeded" and job.result is not None, job
        versions[name] = job.result.version
    return versions


def test_scheduled_event_starts_a_job_for_the_named_model(trained, aws):
    scheduled = json.loads((EVENTS / "retrain-scheduled.json").read_text())
    summary = train_handler(scheduled, lambda_context("TrainFunction", "scheduled-1"))
    assert list(summary) == ["started"] and list(summary["started"]) == ["handbook"]
    assert finished(summary["started"]) == {"handbook": 2}
    assert manifest_version(aws, "handbook") == 2
    assert envelope(chat(), 200)["data"]["model_version"] == 2


def test_scheduled_event_without_input_starts_one_job_per_model(trained, aws):
    one_file = event(
        "train", body={"model_name": "leave", "file_list": [f"s3://{SOURCES}/handbook/leave-and-holidays.md"]}
    )
    leave = envelope(train(one_file), 200)["data"]
    assert leave["documents"] == 1 and leave["chunks"] < trained["chunks"]
    scheduled = json.loads((EVENTS / "retrain-all-scheduled.json").read_text())
    summary = train_handler(scheduled, lambda_context("TrainFunction", "scheduled-2"))
    assert len(set(summary["started"].values())) == 2  # a job each
    assert finished(summary["started"]) == {"handbook": 2, "leave": 2}
    # the retrain used each manifest's own sources
    manifest = json.loads(aws.get_object(Bucket=ARTIFACTS, Key="models/leave/manifest.json")["Body"].read())
    assert [s["entry"] for s in manifest["sources"]] == [f"s3://{SOURCES}/handbook/leave-and-holidays.md"]


def test_scheduled_retrain_of_an_unknown_model_is_reported_not_raised(trained, aws):
    summary = train_handler({"retrain": "nope, handbook"}, lambda_context("TrainFunction", "scheduled-3"))
    assert summary["started"]["nope"] == "not started: model 'nope' has not been trained"
    assert finished({"handbook": summary["started"]["handbook"]}) == {"handbook": 2}


def test_scheduled_event_needs_no_secret_and_a_malformed_one_raises(aws):
    """Schedules are not API requests: no secret involved; a broken schedule input fails the invocation."""
    assert train_handler({"retrain": []}, lambda_context("TrainFunction", "s")) == {"started": {}}
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
    monkeypatch.setattr(operations, "start_job", crash)
    envelope(train(), 500)
    logged = logs()

    # the capture works: the refusal, the domain error, the crashes and the metrics are all there
    for expected in (
        '"request refused"',
        '"request failed"',
        '"unexpected error"',
        "job failed unexpectedly",
        "JobsStarted",
        "Answers",
    ):
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


@pytest.mark.parametrize(
    "raw",
    [
        '{"model_name": "handbook", "question": "Hi?", "n": ' + "1" * 5000 + "}",  # over Python's 4300 digits
        "[" * 100_000,
        '{"model_name": "handbook", "question": ' + "[" * 100_000,
        '{"model_name": "handbook", "question": "Hi?", "history": [' + "-" + "9" * 4301 + "]}",
    ],
    ids=["5000-digit-integer", "100k-nested", "100k-nested-in-a-field", "long-negative-in-a-list"],
)
@pytest.mark.parametrize("route", ["train", "chat"])
def test_json_the_parser_cannot_take_is_400(api_secret, route, raw):
    """Parsing raised ValueError (int digit limit) or RecursionError, which validation let through as a 500."""
    handler = train_handler if route == "train" else chat_handler
    assert envelope(invoke(handler, event(route, body=raw)), 400) == {
        "code": 1,
        "msg": "request body is not valid JSON",
        "data": None,
    }


def test_a_body_secret_beside_a_number_the_parser_cannot_take_is_refused_not_a_crash(api_secret):
    """No secret can be read from a body that does not parse: unauthenticated, like any unparseable body."""
    raw = '{"secret": "' + SECRET + '", "model_name": "handbook", "question": "Hi?", "n": ' + "1" * 5000 + "}"
    evt = event("chat-legacy-secret", body=raw)
    assert envelope(chat(evt), 401)["msg"] == BAD_SECRET_MSG


NON_ASCII_SECRET = "pässwörd-秘密"


@pytest.mark.parametrize(
    "presented",
    [
        NON_ASCII_SECRET,  # the header's UTF-8 bytes decoded as UTF-8
        NON_ASCII_SECRET.encode().decode("latin-1"),  # the same bytes decoded as ISO-8859-1, as HTTP stacks do
    ],
    ids=["utf8-decoded", "latin1-decoded"],
)
@pytest.mark.parametrize("header", ["Authorization", "x-api-key"])
def test_a_non_ascii_secret_sent_as_utf8_in_a_header_is_accepted(aws, monkeypatch, presented, header):
    monkeypatch.setenv("API_SECRET", NON_ASCII_SECRET)
    value = f"Bearer {presented}" if header == "Authorization" else presented
    evt = event(
        "chat",
        body={"model_name": "nothing-here", "question": "Hi?"},
        headers={"Authorization": None} | {header: value},
    )
    assert envelope(chat(evt), 404)["msg"] == "model 'nothing-here' has not been trained"


@pytest.mark.parametrize(
    "presented",
    [
        "pässwörd-秘",
        "pässwörd-秘密".encode("utf-16-le").decode("latin-1"),
        "passwörd-秘密",
        "pässwörd-秘密".encode().decode("latin-1") + "x",
    ],
)
def test_a_wrong_non_ascii_secret_is_401(aws, monkeypatch, presented):
    monkeypatch.setenv("API_SECRET", NON_ASCII_SECRET)
    evt = event("chat", headers={"Authorization": f"Bearer {presented}"})
    assert envelope(chat(evt), 401)["msg"] == BAD_SECRET_MSG


# -- time budgets -----------------------------------------------------------------------------------


def test_a_hung_language_model_ends_in_a_504_within_the_functions_time(api_secret, aws, openai_stub, monkeypatch):
    """Chat's calls to the LLM are cut to the Lambda's remaining time: a slow server is a 504, not a timeout."""
    monkeypatch.setenv("CDGPT_MIN_SCORE", "-1")  # the stub's vectors are not semantic: keep every passage
    reset_clients()
    envelope(train(), 200)
    openai_stub.stall("/v1/chat/completions")
    context = lambda_context("ChatFunction", "lambda-request-2")
    context.get_remaining_time_in_millis = lambda: 3500  # the budget left: 1.5 s after the answer margin
    result = chat_handler(event("chat"), context)
    assert envelope(result, 504)["msg"] == "the language model did not answer in time"
    assert len(openai_stub.chat_requests) == 0  # still held: the stub never answered it


def test_the_openai_client_fits_its_timeout_and_retries_to_the_budget(openai_stub):
    from cdgpt.clients import openai_for_request, time_budget
    from cdgpt.errors import UpstreamTimeout

    assert openai_for_request().timeout == 60.0  # no budget: the configured timeout
    with time_budget(25):
        client = openai_for_request()
        attempts = client.max_retries + 1
        assert client.timeout * attempts + sum(min(0.5 * 2**n, 8) for n in range(client.max_retries)) <= 25
        assert client.timeout >= 4
    with time_budget(3):
        assert openai_for_request().max_retries == 0 and openai_for_request().timeout <= 3
    with time_budget(0.5), pytest.raises(UpstreamTimeout):
        openai_for_request()
