"""The OpenAPI document generated from the handlers, and a bounded schemathesis fuzz run against `cdgpt serve`.

Whatever a client sends, the API answers with a status below 500 and the {code, msg, data} envelope.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from cdgpt.answer.answering import MAX_HISTORY_ITEM_CHARS, MAX_HISTORY_ITEMS, MAX_QUESTION_CHARS
from cdgpt.ingest.sources import MAX_ENTRY_CHARS
from cdgpt.limits import MAX_CRAWL_DEPTH, MAX_CRAWL_PAGES
from cdgpt.local.server import openapi_document, template_routes
from cdgpt.training.pipeline import MAX_PROMPT_CHARS, MAX_SOURCES
from tests.support.serve import AUTH, REPO, serving
from tests.support.sse import parse

DOCUMENT = openapi_document(REPO / "template.yaml")
FUZZ_MODEL = "fuzz"
EXAMPLES = 30
STATUSES: Counter[tuple[str, int]] = Counter()  # (path, status) of every fuzzed request


# -- the document -----------------------------------------------------------------------------------


def test_document_lists_exactly_the_template_routes():
    declared = {  # the API's routes: not the chat page's, nor the CORS preflights
        (r.method.lower(), r.path)
        for r in template_routes(REPO / "template.yaml")
        if r.function != "WebFunction" and r.method != "OPTIONS"
    }
    documented = {(method, path) for path, operations in DOCUMENT["paths"].items() for method in operations}
    assert (
        documented
        == declared
        == {
            ("post", "/train"),
            ("post", "/chat"),
            ("get", "/jobs/{job_id}"),
            ("get", "/models"),
            ("get", "/models/{model_name}"),
            ("delete", "/models/{model_name}"),
            ("post", "/models/{model_name}/sources"),
            ("post", "/upload_prompt"),
        }
    )


def test_training_routes_document_the_202_of_a_job_still_running():
    for path in ("/train", "/models/{model_name}/sources"):
        accepted = DOCUMENT["paths"][path]["post"]["responses"]["202"]["content"]["application/json"]["schema"]
        assert accepted == {"$ref": "#/components/schemas/JobAcceptedResponse"}


@pytest.mark.parametrize(
    ("path", "models"),
    [
        ("/train", ["TrainRequest", "OriginalTrainRequest"]),
        ("/chat", ["ChatRequest", "OriginalChatRequest"]),
        ("/upload_prompt", ["UploadPromptRequest"]),
    ],
)
def test_request_bodies_reference_the_contract_models(path, models):
    """/train and /chat take this API's shape or the original clients' last one (with space_name)."""
    body = DOCUMENT["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    refs = [{"$ref": f"#/components/schemas/{model}"} for model in models]
    schema = body["content"]["application/json"]["schema"]
    assert (schema["oneOf"] if len(refs) > 1 else [schema]) == refs
    assert set(models) <= set(DOCUMENT["components"]["schemas"])


def test_every_route_documents_403_and_429_with_retry_after():
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"401", "403", "429"} <= set(responses), (method, path)
            assert "Retry-After" in responses["429"]["headers"], (method, path)


def test_the_original_shapes_carry_their_limits():
    schemas = DOCUMENT["components"]["schemas"]
    train, chat = schemas["OriginalTrainRequest"], schemas["OriginalChatRequest"]
    assert train["required"] == ["space_name", "file_list"] and chat["required"] == ["space_name", "question"]
    assert {"type": "string", "enum": ["url", "path"]} in train["properties"]["file_tag"]["anyOf"]
    assert chat["properties"]["history"]["items"]["anyOf"][1] == {"type": "null"}
    assert schemas["UploadPromptRequest"]["properties"]["file_list"]["maxItems"] == 20


def test_request_schemas_carry_the_contract_limits():
    schemas = DOCUMENT["components"]["schemas"]
    train, chat = schemas["TrainRequest"]["properties"], schemas["ChatRequest"]["properties"]
    assert schemas["TrainRequest"]["required"] == ["model_name", "file_list"]
    assert schemas["ChatRequest"]["required"] == ["model_name", "question"]
    assert train["model_name"]["pattern"] == chat["model_name"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    assert train["file_list"]["minItems"] == 1 and train["file_list"]["maxItems"] == MAX_SOURCES
    assert train["file_list"]["items"] == {
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": MAX_ENTRY_CHARS},
            {"$ref": "#/components/schemas/CrawlEntry"},
        ]
    }
    crawl = schemas["CrawlOptions"]["properties"]
    assert schemas["CrawlEntry"]["required"] == ["url", "crawl"]
    assert crawl["max_pages"]["maximum"] == MAX_CRAWL_PAGES and crawl["max_depth"]["maximum"] == MAX_CRAWL_DEPTH
    assert {"type": "string", "maxLength": MAX_PROMPT_CHARS} in train["prompt"]["anyOf"]
    assert chat["question"]["minLength"] == 1 and chat["question"]["maxLength"] == MAX_QUESTION_CHARS
    assert chat["history"]["maxItems"] == MAX_HISTORY_ITEMS
    assert chat["history"]["items"]["maxLength"] == MAX_HISTORY_ITEM_CHARS


def test_document_declares_the_bearer_and_api_key_schemes():
    assert DOCUMENT["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    }
    assert DOCUMENT["security"] == [{"bearer": []}, {"apiKey": []}]


def test_cli_prints_the_same_document(capsys, monkeypatch):
    from cdgpt.local.cli import main

    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(REPO))  # main() sets it; restored after the test
    assert main(["openapi", "--template", str(REPO / "template.yaml")]) == 0
    assert json.loads(capsys.readouterr().out) == DOCUMENT


# -- the fuzz run -----------------------------------------------------------------------------------
#
# No request may leave the machine. A file_list entry with "://" would be fetched: http(s) URLs to
# 127.0.0.1 are refused (no CDGPT_ALLOW_PRIVATE_URLS), but a public host would need DNS, and s3:// would
# call AWS. Relying on this sandbox having no network is fragile (a resolver may hang until the timeout),
# so the fuzzed schema's file_list entries exclude ":" and every entry is a local path, confined to a
# one-file source root (a fuzzed "." trains on that file; nothing else on disk is reachable). As a second
# guard the server's S3 endpoint is a closed local port. Half the fuzzed trainings also list the real
# file, so that fuzzed model names and prompts go all the way to a published model.
#
# /chat reads no sources: it is fuzzed in full, with valid and with schema-violating bodies; for half the
# valid ones model_name is replaced by the trained model, so that questions and histories reach
# retrieval and answering rather than a 404.


def fuzz_document() -> dict:
    document = copy.deepcopy(DOCUMENT)
    schemas = document["components"]["schemas"]
    path = {"type": "string", "minLength": 1, "maxLength": MAX_ENTRY_CHARS, "pattern": "^[^:]*$"}
    schemas["TrainRequest"]["properties"]["file_list"]["items"] = path  # crawl entries would fetch
    for shape in ("OriginalTrainRequest", "UploadPromptRequest"):
        schemas[shape]["properties"]["file_list"]["items"]["pattern"] = "^[^:]*$"
    for field in ("add", "remove"):
        schemas["SourcesRequest"]["properties"][field]["items"] = path
    return document


SCHEMA = schemathesis.openapi.from_dict(fuzz_document(), config=schemathesis.Config())  # no discovered config
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fuzz")
    root = workdir / "sources"
    root.mkdir()
    (root / "policy.md").write_text(
        "# Travel policy\n\nEconomy class is used for flights under six hours. Hotels are booked through the travel desk.\n"
    )
    with serving(workdir, source_root=root, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}) as server:
        trained = server.post("/train", json={"model_name": FUZZ_MODEL, "file_list": ["policy.md"]})
        assert trained.status_code == 200, trained.text
        yield server


def call(server, case) -> None:
    response = case.call(base_url=server.url, session=server.session, headers=AUTH, timeout=60)
    STATUSES[case.path, response.status_code] += 1
    case.validate_response(response, checks=[not_a_server_error])
    content_type = response.headers["content-type"][0].split(";")[0]
    if content_type == "text/event-stream":  # a streamed answer ("stream": true): the envelope comes last
        assert response.status_code == 200 and case.body.get("stream") is True
        name, body = parse(response.text)[-1]
        assert name == "done" and list(body) == ["code", "msg", "data"] and body["code"] == 0, response.text
        return
    assert content_type == "application/json", response.text
    body = response.json()
    assert list(body) == ["code", "msg", "data"], body
    if response.status_code == 200:
        assert body["code"] == 0 and body["msg"] == "success" and isinstance(body["data"], dict)
    elif response.status_code == 202:  # a training still running: its job
        assert body["code"] == 0 and body["msg"] == "accepted" and set(body["data"]) >= {"job_id", "status_url"}
    else:
        assert 400 <= response.status_code < 500 and body["code"] == 1 and body["data"] is None, body


@FUZZ
@given(case=SCHEMA["/chat"]["POST"].as_strategy(headers=AUTH), trained_model=st.booleans())
def test_fuzz_chat(fuzz_server, case, trained_model):
    if trained_model:  # in the original shape model_name names the language model, space_name the model
        case.body["space_name" if "space_name" in case.body else "model_name"] = FUZZ_MODEL
    call(fuzz_server, case)


@FUZZ
@given(case=SCHEMA["/chat"]["POST"].as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE, headers=AUTH))
def test_fuzz_chat_with_invalid_bodies(fuzz_server, case):
    call(fuzz_server, case)


@FUZZ
@given(case=SCHEMA["/train"]["POST"].as_strategy(headers=AUTH), with_real_file=st.booleans())
def test_fuzz_train_with_local_paths(fuzz_server, case, with_real_file):
    for entry in case.body["file_list"]:
        assert "://" not in entry  # what keeps the run off the network (see above)
    if with_real_file:  # fuzzed paths rarely exist: let half the trainings succeed, with fuzzed names and prompts
        case.body["file_list"] = [*case.body["file_list"][: MAX_SOURCES - 1], "policy.md"]
    call(fuzz_server, case)


@FUZZ
@given(case=SCHEMA["/models/{model_name}/sources"]["POST"].as_strategy(headers=AUTH), on_trained=st.booleans())
def test_fuzz_sources(fuzz_server, case, on_trained):
    for entry in [*case.body.get("add", []), *case.body.get("remove", [])]:
        assert "://" not in entry  # what keeps the run off the network (see above)
    if on_trained:
        case.path_parameters["model_name"] = FUZZ_MODEL
    call(fuzz_server, case)


@FUZZ
@given(case=SCHEMA["/upload_prompt"]["POST"].as_strategy(headers=AUTH))
def test_fuzz_upload_prompt(fuzz_server, case):
    for entry in case.body["file_list"]:
        assert "://" not in entry  # not a URL: refused before anything is fetched
    call(fuzz_server, case)


@FUZZ
@given(case=SCHEMA["/jobs/{job_id}"]["GET"].as_strategy(headers=AUTH))
def test_fuzz_jobs(fuzz_server, case):
    call(fuzz_server, case)


@FUZZ
@given(case=SCHEMA["/models/{model_name}"]["GET"].as_strategy(headers=AUTH))
def test_fuzz_model(fuzz_server, case):
    call(fuzz_server, case)


def test_listing_models_answers(fuzz_server):
    listed = fuzz_server.request("GET", "/models", headers=AUTH)
    assert listed.status_code == 200 and FUZZ_MODEL in [m["model_name"] for m in listed.json()["data"]["models"]]


@FUZZ
@given(case=SCHEMA["/models/{model_name}"]["DELETE"].as_strategy(headers=AUTH))
def test_fuzz_delete(fuzz_server, case):
    if case.path_parameters["model_name"] == FUZZ_MODEL:  # the other fuzz tests need it
        case.path_parameters["model_name"] = FUZZ_MODEL + "-not"
    call(fuzz_server, case)


def test_the_fuzz_run_reached_the_handlers(fuzz_server):
    """Guards against a run that only ever met the guard: chat answered, and fuzzed trainings were attempted."""
    if not STATUSES:
        pytest.skip("run together with the fuzz tests above")
    assert STATUSES["/chat", 200] > 0 and STATUSES["/chat", 422] > 0, STATUSES
    assert STATUSES["/train", 200] > 0 and STATUSES["/train", 422] > 0, STATUSES
    assert not any(status in (401, 404) for path, status in STATUSES if path == "/train"), STATUSES
    log = fuzz_server.server_log()
    assert '" 500 ' not in log and "Traceback" not in log
