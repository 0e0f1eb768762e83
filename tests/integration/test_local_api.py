"""`cdgpt serve` as a real process: the template's routes over HTTP, with the handlers' status codes and envelope."""

from __future__ import annotations

import json
import re

import pytest
import requests

from cdgpt.answer.answering import EXTRACTIVE_LABEL
from cdgpt.limits import MAX_BODY_BYTES
from cdgpt.local.server import template_routes
from tests.support import check_envelope, in_threads
from tests.support.serve import AUTH, REPO, SECRET, served  # noqa: F401

HANDBOOK = "samples/handbook"
LEAVE_QUESTION = "How many days of paid annual leave does a full-time employee get per year?"
BAD_SECRET = {"code": 1, "msg": "missing or wrong API secret: send Authorization: Bearer <secret>", "data": None}
NOT_JSON = {"code": 1, "msg": "send the body as JSON with Content-Type: application/json", "data": None}
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def envelope(response, status: int) -> dict:
    """The response's exact status, a JSON content type, and the {code, msg, data} envelope."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    return check_envelope(response.json(), status)


@pytest.fixture(scope="module")
def handbook(served):
    """The handbook trained once through POST /train; the envelope's data."""
    response = served.post("/train", json={"model_name": "handbook", "file_list": [HANDBOOK]})
    return envelope(response, 200)["data"]


def test_train_over_http(served, handbook):
    assert handbook["model_name"] == "handbook" and handbook["size_type"] == "kb"
    assert handbook["version"] >= 1 and handbook["documents"] == 9
    assert handbook["index_model_size"] > 0 and handbook["pkl_model_size"] > 0
    assert handbook["sources"] == [{"entry": HANDBOOK, "status": "ok", "reason": None}]
    manifest = json.loads((served.data_dir / "models/handbook/manifest.json").read_text())
    assert manifest["version"] == handbook["version"] and manifest["version_id"] == handbook["version_id"]


def test_chat_over_http(served, handbook):
    history = ["Human: Hello", "Bot: Hi! Ask me about the handbook."]
    response = served.post("/chat", json={"model_name": "handbook", "question": LEAVE_QUESTION, "history": history})
    data = envelope(response, 200)["data"]
    assert data["answer"].startswith(EXTRACTIVE_LABEL) and "25 days" in data["answer"]
    assert data["sources"][0]["source"] == f"{HANDBOOK}/leave-and-holidays.md"
    assert data["history"] == [*history, f"Human: {LEAVE_QUESTION}", f"Bot: {data['answer']}"]
    assert data["model_version"] == handbook["version"]
    assert "Connection" not in response.headers  # handler responses keep the connection alive


@pytest.mark.parametrize(
    ("headers", "body_secret", "status"),
    [
        ({}, None, 401),
        ({"Authorization": "Bearer wrong-secret"}, None, 401),
        ({"Authorization": f"Bearer {SECRET}-but-longer"}, None, 401),
        ({"x-api-key": "wrong-secret"}, None, 401),
        ({}, "wrong-secret", 401),
        ({"Authorization": "Bearer wrong-secret"}, SECRET, 401),  # the header decides when there is one
        ({}, "\ud800", 401),  # a lone surrogate in the body once crashed the guard (500)
        ({}, SECRET, 200),  # the original clients' secret in the body
        ({"x-api-key": SECRET}, None, 200),
        ({"Authorization": f"bearer {SECRET}"}, None, 200),  # the scheme is case-insensitive
    ],
    ids=[
        "no-secret",
        "wrong-bearer",
        "longer-bearer",
        "wrong-x-api-key",
        "wrong-body-secret",
        "wrong-bearer-right-body",
        "surrogate-body-secret",
        "body-secret-right",
        "x-api-key-right",
        "lower-case-bearer",
    ],
)
def test_auth(served, handbook, headers, body_secret, status):
    body = {"model_name": "handbook", "question": LEAVE_QUESTION}
    if body_secret is not None:
        body["secret"] = body_secret
    response = served.post("/chat", auth=False, headers=headers, json=body)
    result = envelope(response, status)
    if status == 401:
        assert result == BAD_SECRET
        assert SECRET not in response.text
    else:
        assert result["data"]["sources"][0]["source"] == f"{HANDBOOK}/leave-and-holidays.md"


@pytest.mark.parametrize("path", ["/train", "/chat"])
def test_auth_comes_before_validation(served, path):
    assert envelope(served.post(path, auth=False, data="{not json"), 401) == BAD_SECRET


@pytest.mark.parametrize("raw", ["{not json", '{"model_name": "handbook",', "[1, 2"])
@pytest.mark.parametrize("path", ["/train", "/chat"])
def test_malformed_json_is_400(served, path, raw):
    response = served.post(path, data=raw, headers={"Content-Type": "application/json"})
    assert envelope(response, 400) == {"code": 1, "msg": "request body is not valid JSON", "data": None}


def test_a_body_that_is_not_utf8_is_400(served):
    response = served.post("/chat", data=b'{"question": "\xff"}', headers={"Content-Type": "application/json"})
    assert envelope(response, 400)["msg"] == "request body is not UTF-8"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/chat", {"model_name": "handbook", "question": 42}, "question"),
        ("/chat", {"model_name": "handbook", "question": "Hi?", "history": "Human: hi"}, "history"),
        ("/chat", {"model_name": "handbook", "question": "Hi?", "history": [1]}, "history.0"),
        ("/chat", {"model_name": "handbook", "question": ""}, "question"),
        ("/chat", {"model_name": "handbook"}, "question"),
        ("/chat", {"model_name": ["handbook"], "question": "Hi?"}, "model_name"),
        ("/chat", {"model_name": "../etc/passwd", "question": "Hi?"}, "model_name"),
        ("/train", {"model_name": "handbook", "file_list": [1, 2]}, "file_list.0"),
        ("/train", {"model_name": "handbook", "file_list": HANDBOOK}, "file_list"),
        ("/train", {"model_name": "handbook", "file_list": []}, "file_list"),
        ("/train", {"model_name": "handbook", "file_list": [""]}, "file_list.0"),
        ("/train", {"model_name": "handbook", "file_list": [HANDBOOK], "prompt": ["x"]}, "prompt"),
        ("/train", "just a string", "body"),
        ("/train", None, "body"),
    ],
    ids=[
        "question-number",
        "history-string",
        "history-ints",
        "question-empty",
        "question-missing",
        "model-name-list",
        "model-name-path",
        "file-list-ints",
        "file-list-string",
        "file-list-empty",
        "file-list-empty-entry",
        "prompt-list",
        "body-string",
        "body-null",
    ],
)
def test_wrong_types_are_422_naming_the_field(served, path, body, field):
    response = served.post(path, data=json.dumps(body), headers={"Content-Type": "application/json"})
    msg = envelope(response, 422)["msg"]
    assert msg.startswith(f"{field}: "), msg


def test_wrong_types_do_not_train(served, handbook):
    served.post("/train", json={"model_name": "handbook", "file_list": [1]})
    manifest = json.loads((served.data_dir / "models/handbook/manifest.json").read_text())
    assert manifest["version"] == handbook["version"]


def test_an_oversized_body_is_413(served):
    over = b'{"model_name": "handbook", "question": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert len(over) > MAX_BODY_BYTES
    response = served.post("/chat", auth=False, data=over, headers={"Content-Type": "application/json"})
    assert envelope(response, 413)["msg"] == f"request body is larger than {MAX_BODY_BYTES} bytes"
    assert "Connection" not in response.headers  # the body was read (and dropped): the connection is good


def test_a_body_of_exactly_the_limit_goes_to_the_handler(served):
    skeleton = b'{"model_name": "handbook", "question": ""}'
    exact = skeleton[:-2] + b"x" * (MAX_BODY_BYTES - len(skeleton)) + b'"}'
    assert len(exact) == MAX_BODY_BYTES
    response = served.post("/chat", data=exact, headers={"Content-Type": "application/json"})
    assert envelope(response, 422)["msg"].startswith("question: ")


def test_unknown_model_is_404(served):
    response = served.post("/chat", json={"model_name": "no-such-model", "question": "Hello?"})
    assert envelope(response, 404) == {"code": 1, "msg": "model 'no-such-model' has not been trained", "data": None}


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/admin"), ("POST", "/train/x"), ("GET", "/assets"), ("GET", "/Chat")]
)
def test_unknown_route_is_404(served, method, path):
    response = served.request(method, path, headers={"Authorization": f"Bearer {SECRET}"}, json={})
    assert envelope(response, 404) == {"code": 1, "msg": f"no route {method} {path}", "data": None}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_another_method_on_a_route_is_405(served, method):
    response = served.request(method, "/train", headers={"Authorization": f"Bearer {SECRET}"}, json={})
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert envelope(response, 405)["msg"] == f"method {method} is not allowed on /train (allowed: OPTIONS, POST)"


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", "model_name=handbook"),
        ("application/x-www-form-urlencoded", "model_name=handbook&question=Hi"),
        ("application/xml", "<chat/>"),
        ("text/plain", ""),  # was a 500
    ],
    ids=["text", "form", "xml", "empty-text"],
)
def test_a_non_json_content_type_is_415(served, content_type, data):
    response = served.post("/chat", data=data, headers={"Content-Type": content_type})
    assert envelope(response, 415) == NOT_JSON


def test_a_json_type_in_any_spelling_is_json(served):
    for content_type in ("application/vnd.api+json", "APPLICATION/JSON"):  # a +json type was a 500, then a 415
        response = served.post(
            "/chat", data='{"model_name": "nope", "question": "Hi?"}', headers={"Content-Type": content_type}
        )
        assert envelope(response, 404)["msg"] == "model 'nope' has not been trained"


def test_served_routes_are_exactly_the_templates(served):
    """Every template route reaches its handler (whose guard refuses the missing secret); other methods on
    its path are 405, and paths the template does not declare are 404."""
    every = template_routes(REPO / "template.yaml")
    routes = [r for r in every if r.function != "WebFunction" and r.method != "OPTIONS"]  # the API's own
    assert {("POST", "/train"), ("POST", "/chat")} <= {(route.method, route.path) for route in routes}
    concrete = {route.path: re.sub(r"\{[^}]+\}", "x", route.path) for route in routes}  # /jobs/{job_id} -> /jobs/x
    for route in routes:
        declared = {other.method for other in routes if other.path == route.path}
        assert served.request("OPTIONS", concrete[route.path]).status_code == 204  # a CORS preflight, no key
        for method in METHODS:
            response = served.request(
                method, concrete[route.path], data="{}", headers={"Content-Type": "application/json"}
            )
            if method in declared:
                assert envelope(response, 401) == BAD_SECRET, (method, route.path)
            else:
                assert envelope(response, 405)["msg"].startswith(f"method {method} is not allowed"), (
                    method,
                    route.path,
                )
    for path in ["/admin", "/train/", "/chat/x", "/Train", "/openapi.json", "/assets/x/y"]:
        for method in METHODS:
            assert envelope(served.request(method, path), 404)["msg"] == f"no route {method} {path}"


def test_concurrent_chats_each_get_their_own_answer(served, handbook):
    """Powertools keeps the current event in class attributes: two invocations in one process at once
    could validate, and answer, each other's questions. Each reply must carry its own question."""
    questions = [json.loads(line)["question"] for line in (REPO / "samples/questions.jsonl").open()]
    wrong: list[str] = []

    def client(n: int) -> None:
        with requests.Session() as session:
            for k in range(6):
                question = questions[(n * 5 + k) % len(questions)]
                body = {"model_name": "handbook", "question": question}
                reply = session.post(f"{served.url}/chat", json=body, headers=AUTH, timeout=60)
                if reply.status_code != 200 or reply.json()["data"]["history"][0] != f"Human: {question}":
                    wrong.append(question)

    in_threads(8, client)
    assert wrong == []


def test_the_server_logged_no_secret(served, handbook):
    log = served.server_log()
    assert "serving " in log and "POST /train" in log and f"on http://127.0.0.1:{served.port}" in log
    assert SECRET not in log
