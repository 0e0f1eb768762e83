"""The original service's clients, replayed through the Lambda handlers on moto with the exact bodies they
sent, asserting the response keys they read.

Its earlier shape (`model_name` names the model) is this API's own. Its last shape carries `space_name`:
`/train {space_name, file_list, file_tag}` -> `{space_name, size_type, pkl_space_size, index_space_size}`,
`/chat {space_name, question, history, model_name (the LLM), prompt_name}` -> `{answer, history}`, and
`/upload_prompt {file_list: [".txt" URLs]}` -> `{size_type, all_file_size}`.
"""

from __future__ import annotations

import json

import pytest

from cdgpt.answer.answering import DEFAULT_PROMPT, NOT_COVERED
from cdgpt.clients import reset_clients
from cdgpt.limits import MAX_HISTORY_ITEMS
from tests.support import REPO
from tests.support.fixtures_openai import openai_stub  # noqa: F401
from tests.support.lambda_events import (  # noqa: F401
    ARTIFACTS,
    ROUTES,
    SECRET,
    SOURCES,
    api_secret,
    aws,
    chat,
    envelope,
    event,
    invoke,
    load_handler,
    moto_aws,
    route_event,
    train,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
LEAVE = (REPO / "samples/handbook/leave-and-holidays.md").read_text("utf-8")
QUESTION = "How many days of annual leave do I get?"
MASTER = """You are the helpdesk bot. Answer from the context; say so when it does not cover the question.
Literal braces stay: {{"format": "text"}}

Context:
{context}

Conversation so far:
{history}

Question: {question}
Answer:"""


@pytest.fixture
def urls(web, monkeypatch):
    """The handbook's leave policy and a prompt template, served from 127.0.0.1 (private URLs allowed)."""
    monkeypatch.setenv("CDGPT_ALLOW_PRIVATE_URLS", "1")
    reset_clients()
    return {
        "leave": web.add("/public-static/leave.txt", LEAVE, "text/plain; charset=utf-8"),
        "master": web.add("/prompts/master.txt", MASTER, "text/plain; charset=utf-8"),
    }


def upload_prompt(body: object) -> dict:
    return invoke(
        load_handler(ROUTES["POST", "/upload_prompt"]), route_event("POST", "/upload_prompt", body=body), "Train"
    )


def stored(aws, prefix: str) -> list[str]:
    return [o["Key"] for o in aws.list_objects_v2(Bucket=ARTIFACTS, Prefix=prefix).get("Contents", [])]


# -- the earlier shape ------------------------------------------------------------------------------


def test_the_earlier_shape_replays(api_secret, aws):
    trained = train(event("train", body={"model_name": "handbook", "file_list": [f"s3://{SOURCES}/handbook/"]}))
    data = envelope(trained, 200)["data"]
    assert {"model_name", "index_model_size", "pkl_model_size", "size_type"} <= set(data)
    assert data["model_name"] == "handbook" and data["size_type"] == "kb" and data["index_model_size"] > 0
    asked = {"model_name": "handbook", "question": QUESTION, "history": ["Human: Hi", "Bot: Hello!"]}
    data = envelope(chat(event("chat-legacy-secret", body={**asked, "secret": SECRET})), 200)["data"]
    assert {"answer", "history"} <= set(data)
    assert data["history"] == [*asked["history"], f"Human: {QUESTION}", f"Bot: {data['answer']}"]


# -- the last shape ---------------------------------------------------------------------------------


def test_the_last_shape_trains_and_chats_with_the_original_keys(api_secret, aws, urls):
    body = {"file_list": [urls["leave"]], "space_name": "train_space_name", "file_tag": "url"}
    data = envelope(train(event("train", body=body)), 200)["data"]
    assert list(data) == ["space_name", "size_type", "pkl_space_size", "index_space_size"]
    assert data["space_name"] == "train_space_name" and data["size_type"] == "kb"
    assert data["pkl_space_size"] > 0 and data["index_space_size"] > 0
    assert stored(aws, "models/train_space_name/manifest.json")  # space_name is the model

    asked = {
        "history": ["human: how are u", "Bot: fine"],
        "question": QUESTION,
        "space_name": "train_space_name",
        "model_name": "text-davinci-003",
    }
    data = envelope(chat(event("chat", body=asked)), 200)["data"]
    assert list(data) == ["answer", "history"]
    assert "25" in data["answer"]  # extractive: quoted from the leave policy
    assert data["history"] == [*asked["history"], f"Human: {QUESTION}", f"Bot: {data['answer']}"]


def test_a_space_name_may_be_a_number_and_paths_are_local(api_secret, aws, monkeypatch):
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(REPO))
    reset_clients()
    body = {"file_list": ["samples/handbook/leave-and-holidays.md"], "space_name": 42, "file_tag": "path"}
    assert envelope(train(event("train", body=body)), 200)["data"]["space_name"] == "42"
    data = envelope(chat(event("chat", body={"space_name": 42, "question": QUESTION, "history": [None]})), 200)["data"]
    assert data["history"][0] is None


def test_history_may_hold_nulls_and_they_come_back(api_secret, aws, urls):
    train(event("train", body={"file_list": [urls["leave"]], "space_name": "s", "file_tag": "url"}))
    history = ["", None, "Human: hi", None, "Bot: hello"]
    body = {"space_name": "s", "question": QUESTION, "history": history, "model_name": "gpt-3.5-turbo"}
    data = envelope(chat(event("chat", body=body)), 200)["data"]
    assert data["history"][:5] == history and data["history"][5] == f"Human: {QUESTION}"


def test_a_full_history_comes_back_short_enough_to_send_again(api_secret, aws, urls):
    train(event("train", body={"file_list": [urls["leave"]], "space_name": "s", "file_tag": "url"}))
    history = [None, *(f"Human: question {n}" for n in range(MAX_HISTORY_ITEMS - 1))]  # the most a request holds
    for _ in range(2):  # the reply's history, sent back, is accepted
        body = {"space_name": "s", "question": QUESTION, "history": history}
        history = envelope(chat(event("chat", body=body)), 200)["data"]["history"]
        assert len(history) == MAX_HISTORY_ITEMS and history[-2] == f"Human: {QUESTION}"


@pytest.mark.parametrize(
    ("file_tag", "entry", "msg"),
    [
        ("path", "{leave}", 'body: Value error, file_tag is "path" but file_list.0 is a URL: http://127.0.0.1:'),
        ("path", "s3://cdgpt-sources/handbook/", 'body: Value error, file_tag is "path" but file_list.0 is a URL'),
        ("url", "samples/handbook/", 'body: Value error, file_tag is "url" but file_list.0 is not a URL'),
        ("local", "samples/handbook/", "file_tag: Input should be 'url' or 'path'"),
    ],
    ids=["path-with-url", "path-with-s3", "url-with-path", "unknown-tag"],
)
def test_a_file_tag_that_does_not_match_its_entries_is_422(api_secret, aws, urls, file_tag, entry, msg):
    body = {"file_list": [entry.format(**urls)], "space_name": "s", "file_tag": file_tag}
    assert envelope(train(event("train", body=body)), 422)["msg"].startswith(msg)
    assert stored(aws, "") == []  # refused before a job was recorded


def test_the_old_failures_are_gone(api_secret, aws, urls):
    """The last version's /train was a 422 ("model_name: Field required") and its /chat a 404 for a model
    named after the LLM; a body in this API's own shape still needs model_name."""
    body = {"file_list": [urls["leave"]], "space_name": "s", "file_tag": "url"}
    assert envelope(train(event("train", body=body)), 200)
    body = {"space_name": "s", "question": QUESTION, "history": [], "model_name": "gpt-3.5-turbo"}
    assert envelope(chat(event("chat", body=body)), 200)
    assert envelope(train(event("train", body={"file_list": [urls["leave"]]})), 422)["msg"] == (
        "model_name: Field required"
    )


def test_a_language_model_outside_the_allow_list_is_a_clear_422(api_secret, aws, urls, monkeypatch):
    train(event("train", body={"file_list": [urls["leave"]], "space_name": "s", "file_tag": "url"}))
    body = {"space_name": "s", "question": QUESTION, "history": [], "model_name": "llama-3-70b"}
    msg = envelope(chat(event("chat", body=body)), 422)["msg"]
    assert msg.startswith("model_name 'llama-3-70b' is not an allowed language model (allowed: gpt-3.5-turbo, ")
    assert msg.endswith("answers come from the documents, quoted (no language model)")  # none is configured
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    reset_clients()
    assert envelope(chat(event("chat", body=body)), 422)["msg"].endswith("answers come from gpt-4o-mini")
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("CDGPT_LEGACY_LLM_MODELS", "llama-3-70b")
    reset_clients()
    assert envelope(chat(event("chat", body=body)), 200)


def test_an_allowed_language_model_is_answered_by_the_configured_one(api_secret, aws, urls, openai_stub, monkeypatch):
    monkeypatch.setenv("CDGPT_EMBEDDINGS", "local")
    monkeypatch.setenv("CDGPT_CHAT_MODEL", "configured-chat-model")
    reset_clients()
    train(event("train", body={"file_list": [urls["leave"]], "space_name": "s", "file_tag": "url"}))
    body = {"space_name": "s", "question": QUESTION, "history": [], "model_name": "gpt-3.5-turbo"}
    data = envelope(chat(event("chat", body=body)), 200)["data"]
    assert data["answer"].startswith("Stub answer")
    assert [r.body["model"] for r in openai_stub.chat_requests] == ["configured-chat-model"]


# -- prompt templates -------------------------------------------------------------------------------


def test_upload_prompt_stores_the_template_under_its_file_name(api_secret, aws, urls):
    data = envelope(upload_prompt({"file_list": [urls["master"]]}), 200)["data"]
    assert list(data) == ["size_type", "all_file_size"]
    assert data == {"size_type": "kb", "all_file_size": round(len(MASTER.encode()) / 1024, 4)}
    held = aws.get_object(Bucket=ARTIFACTS, Key="prompts/master.txt")["Body"].read().decode()
    assert held == MASTER


def test_a_source_scoped_key_uploads_no_template_a_redirect_brings_from_elsewhere(api_secret, aws, urls, web):
    from cdgpt.keys.records import create_key
    from cdgpt.models.store import default_store
    from cdgpt.settings import get_settings

    key = create_key(default_store(get_settings()), "train", ["*"], sources=[f"{web.base}/prompts/"])[1]
    moved = web.redirect("/prompts/moved.txt", f"{web.base}/public-static/leave.txt")
    evt = route_event("POST", "/upload_prompt", body={"file_list": [moved]})
    evt["headers"]["Authorization"] = f"Bearer {key}"
    evt["multiValueHeaders"]["Authorization"] = [f"Bearer {key}"]
    refused = envelope(invoke(load_handler(ROUTES["POST", "/upload_prompt"]), evt, "Train"), 403)
    assert refused["msg"] == (
        f"moved.txt: redirected to {web.base}/public-static/leave.txt, "
        "outside the sources the training's key may train from"
    )
    assert stored(aws, "prompts/") == []


def test_prompt_name_fills_the_template_and_keeps_the_grounding_rules(api_secret, aws, urls, openai_stub, monkeypatch):
    monkeypatch.setenv("CDGPT_EMBEDDINGS", "local")
    reset_clients()
    train(event("train", body={"file_list": [urls["leave"]], "space_name": "s", "file_tag": "url"}))
    envelope(upload_prompt({"file_list": [urls["master"]]}), 200)
    body = {
        "space_name": "s",
        "question": QUESTION,
        "history": ["Human: hi", None, "Bot: hello"],
        "model_name": "gpt-3.5-turbo",
        "prompt_name": "master",
    }
    data = envelope(chat(event("chat", body=body)), 200)["data"]
    assert data["answer"].startswith("Stub answer from ")
    messages = openai_stub.chat_requests_of("answer")[-1].body["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == DEFAULT_PROMPT  # the grounding rules
    user = messages[1]["content"]
    assert user.startswith("You are the helpdesk bot.") and '{"format": "text"}' in user
    assert "\n\nContext:\n[1] " in user and "25 days" in user  # the numbered passages
    assert "Conversation so far:\nHuman: hi\nBot: hello\n\nQuestion: " + QUESTION in user

    off_topic = {**body, "question": "What is the boiling point of tungsten in kelvin?"}
    assert envelope(chat(event("chat", body=off_topic)), 200)["data"]["answer"] == NOT_COVERED
    assert len(openai_stub.chat_requests_of("answer")) == 1  # not covered: the language model is not asked


@pytest.mark.parametrize(
    ("template", "msg"),
    [
        ("{context.__class__} {question}", "bad.txt: unknown placeholder {context.__class__}"),
        ("{context} {question[0]}", "bad.txt: unknown placeholder {question[0]}"),
        ("{context!r} {question}", "bad.txt: unknown placeholder {context!r}"),
        ("{context:>10} {question}", "bad.txt: unknown placeholder {context:>10}"),
        ("{context} {question} {secret}", "bad.txt: unknown placeholder {secret}"),
        ("{context} {0} {question}", "bad.txt: unknown placeholder {0}"),
        ("{context} and nothing else", "bad.txt: the template needs the placeholder {question}"),
        ("{context} {question} {", "bad.txt: unbalanced '{' or '}'"),
        ("x" * 20001 + "{context}{question}", "bad.txt: a template is limited to 20000 characters"),
    ],
    ids=["attribute", "index", "conversion", "format-spec", "unknown", "positional", "missing", "unbalanced", "long"],
)
def test_an_unsafe_or_incomplete_template_is_refused_and_nothing_is_stored(api_secret, aws, urls, web, template, msg):
    bad = web.add("/bad.txt", template, "text/plain")
    body = envelope(upload_prompt({"file_list": [urls["master"], bad]}), 422)
    assert body["msg"].startswith(msg), body["msg"]
    assert stored(aws, "prompts/") == []  # the good one is not stored either


@pytest.mark.parametrize(
    ("path", "status", "msg"),
    [
        ("/master.html", 422, "file is not txt: http://127.0.0.1:"),
        ("/missing.txt", 422, "missing.txt: HTTP 404"),
        ("/huge.txt", 413, "huge.txt: larger than the 80000-byte limit"),
        ("/binary.txt", 422, "binary.txt: binary data, not text"),
        ("/..%2F..%2Fetc.txt", 422, "a prompt name is 1-64 letters"),
    ],
)
def test_upload_prompt_refuses_what_it_cannot_use(api_secret, aws, urls, web, path, status, msg):
    web.add("/huge.txt", "{context}{question}" + "x" * 80000, "text/plain")
    web.add("/binary.txt", bytes(range(256)) * 10, "application/octet-stream")
    body = envelope(upload_prompt({"file_list": [web.base + path]}), status)
    assert body["msg"].startswith(msg), body["msg"]
    assert stored(aws, "prompts/") == []


def test_upload_prompt_refuses_private_addresses_like_training(api_secret, aws, web):
    url = web.add("/master.txt", MASTER, "text/plain")  # CDGPT_ALLOW_PRIVATE_URLS is not set
    assert "is not public" in envelope(upload_prompt({"file_list": [url]}), 400)["msg"]
    assert web.hits == []


def test_an_unknown_prompt_name_is_404(api_secret, aws, urls):
    train(event("train", body={"file_list": [urls["leave"]], "space_name": "s", "file_tag": "url"}))
    body = {"space_name": "s", "question": QUESTION, "history": [], "prompt_name": "nope"}
    assert envelope(chat(event("chat", body=body)), 404)["msg"] == (
        "no prompt template 'nope'; upload nope.txt with /upload_prompt"
    )


def test_a_template_tampered_with_in_the_store_is_refused_when_used(api_secret, aws, urls, openai_stub, monkeypatch):
    monkeypatch.setenv("CDGPT_EMBEDDINGS", "local")
    reset_clients()
    train(event("train", body={"file_list": [urls["leave"]], "space_name": "s", "file_tag": "url"}))
    aws.put_object(Bucket=ARTIFACTS, Key="prompts/evil.txt", Body=b"{context.__init__.__globals__} {question}")
    body = {"space_name": "s", "question": QUESTION, "history": [], "prompt_name": "evil"}
    assert "unknown placeholder {context.__init__.__globals__}" in envelope(chat(event("chat", body=body)), 422)["msg"]
    assert openai_stub.chat_requests == []


def test_the_secret_in_the_body_works_for_the_last_shape_too(api_secret, aws, urls):
    body = {"file_list": [urls["leave"]], "space_name": "s", "file_tag": "url", "secret": SECRET}
    assert envelope(train(event("train", body=body, headers={"Authorization": None})), 200)["data"]["space_name"] == "s"
    upload = route_event("POST", "/upload_prompt", body={"file_list": [urls["master"]], "secret": SECRET})
    del upload["headers"]["Authorization"], upload["multiValueHeaders"]["Authorization"]
    assert envelope(invoke(load_handler(ROUTES["POST", "/upload_prompt"]), upload), 200)
    assert json.loads(upload["body"])["secret"] == SECRET
