"""Input validation: each malformed input raises the right error class with a message saying what is wrong."""

from __future__ import annotations

import pytest

from cdgpt.answer.answering import MAX_HISTORY_ITEM_CHARS, MAX_HISTORY_ITEMS, MAX_QUESTION_CHARS, chat, check_history
from cdgpt.api.contract import ChatRequest
from cdgpt.errors import CdgptError, InvalidRequest, ModelNotFound
from cdgpt.limits import MAX_HISTORY_CHARS
from cdgpt.models.registry import check_model_name, read_manifest
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings
from cdgpt.training.pipeline import MAX_PROMPT_CHARS, MAX_SOURCES, train

NAME_RULE = "model_name must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"

BAD_NAMES = {
    "empty": "",
    "too-long": "a" * 65,
    "parent": "../x",
    "double-dot": "a..b",
    "slash": "a/b",
    "backslash": "a\\b",
    "hidden": ".hidden",
    "leading-dash": "-x",
    "space": "my model",
    "trailing-newline": "model\n",
    "unicode": "modèle",
    "int": 42,
    "none": None,
    "list": ["handbook"],
    "dict": {"name": "handbook"},
}


@pytest.mark.parametrize("name", ["a", "handbook", "Hand_Book-2.v1", "9" * 64])
def test_good_model_names_pass(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_malformed_model_name_in_check(name):
    with pytest.raises(InvalidRequest) as caught:
        check_model_name(name)
    assert str(caught.value) == NAME_RULE


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_malformed_model_name_in_chat(name):
    with pytest.raises(InvalidRequest, match="model_name must be"):
        chat(name, "What is the leave allowance?")


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_malformed_model_name_in_train(name):
    with pytest.raises(InvalidRequest, match="model_name must be"):
        train(name, ["docs"])
    assert not get_settings().data_dir.exists()  # refused before touching the store


BAD_QUESTIONS = {
    "empty": ("", "question must be a non-empty string"),
    "whitespace": ("  \n\t ", "question must be a non-empty string"),
    "none": (None, "question must be a non-empty string"),
    "int": (7, "question must be a non-empty string"),
    "list": (["what?"], "question must be a non-empty string"),
    "oversized": ("x" * (MAX_QUESTION_CHARS + 1), f"question is longer than {MAX_QUESTION_CHARS} characters"),
}


@pytest.mark.parametrize(("question", "message"), BAD_QUESTIONS.values(), ids=BAD_QUESTIONS.keys())
def test_malformed_question(question, message):
    with pytest.raises(InvalidRequest) as caught:
        chat("handbook", question)
    assert str(caught.value) == message


BAD_HISTORY = {
    "string": ("Human: hi", "history must be a list of strings"),
    "dict": ({"Human": "hi"}, "history must be a list of strings"),
    "non-string-item": (["Human: hi", 3], "history must be a list of strings"),
    "nested-list": ([["Human: hi"]], "history must be a list of strings"),
    "none-item": ([None], "history must be a list of strings"),
    "too-many": (["Human: hi"] * (MAX_HISTORY_ITEMS + 1), f"history is limited to {MAX_HISTORY_ITEMS} items"),
    "item-too-long": (["x" * (MAX_HISTORY_ITEM_CHARS + 1)], f"of {MAX_HISTORY_ITEM_CHARS} characters"),
}


@pytest.mark.parametrize(("history", "message"), BAD_HISTORY.values(), ids=BAD_HISTORY.keys())
def test_malformed_history(history, message):
    with pytest.raises(InvalidRequest) as caught:
        chat("handbook", "What is the leave allowance?", history)
    assert message in str(caught.value)


ITEM = 'a file_list entry is a string, or an object {"url": ..., "crawl": {...}}'
BAD_FILE_LISTS = {
    "string": ("docs/handbook.md", "file_list must be a non-empty list of sources"),
    "none": (None, "file_list must be a non-empty list of sources"),
    "dict": ({"a": 1}, "file_list must be a non-empty list of sources"),
    "empty": ([], "file_list must be a non-empty list of sources"),
    "non-string-item": (["docs/a.md", 5], ITEM),
    "none-item": ([None], ITEM),
    "bad-crawl": (
        [{"url": "https://a.test/", "crawl": {"max_pages": 0}}],
        "crawl entry crawl.max_pages: Input should be greater than or equal to 1",
    ),
    "crawl-typo": (
        [{"url": "https://a.test/", "crawl": {"pages": 3}}],
        "crawl entry crawl.pages: Extra inputs are not permitted",
    ),
    "crawl-true-pages": (
        [{"url": "https://a.test/", "crawl": {"max_pages": True}}],
        "crawl entry crawl.max_pages: Input should be a valid integer",
    ),
    "crawl-string-delay": (
        [{"url": "https://a.test/", "crawl": {"delay_s": "1"}}],
        "crawl entry crawl.delay_s: Input should be a valid number",
    ),
    "crawl-ftp": (
        [{"url": "ftp://a.test/", "crawl": {}}],
        "crawl entry url: Value error, must be an http:// or https:// URL without spaces",
    ),
    "too-many": ([f"docs/{i}.md" for i in range(MAX_SOURCES + 1)], f"file_list holds more than {MAX_SOURCES} sources"),
}


@pytest.mark.parametrize(("file_list", "message"), BAD_FILE_LISTS.values(), ids=BAD_FILE_LISTS.keys())
def test_malformed_file_list(file_list, message):
    with pytest.raises(InvalidRequest) as caught:
        train("handbook", file_list)
    assert str(caught.value) == message
    assert not get_settings().data_dir.exists()


@pytest.mark.parametrize("prompt", [5, ["be brief"], "x" * (MAX_PROMPT_CHARS + 1)], ids=["int", "list", "oversized"])
def test_malformed_prompt(prompt):
    with pytest.raises(InvalidRequest, match=f"prompt must be a string of at most {MAX_PROMPT_CHARS} characters"):
        train("handbook", ["docs"], prompt=prompt)


def test_unknown_model_is_not_found():
    with pytest.raises(ModelNotFound) as caught:
        chat("never-trained", "What is the leave allowance?")
    assert str(caught.value) == "model 'never-trained' has not been trained"
    with pytest.raises(ModelNotFound, match="'never-trained' has not been trained"):
        read_manifest(default_store(get_settings()), "never-trained")


def test_validation_errors_are_domain_errors():
    """Every validation failure is a CdgptError, whose message the API may show to the caller."""
    assert issubclass(InvalidRequest, CdgptError) and issubclass(ModelNotFound, CdgptError)
    assert not issubclass(ModelNotFound, InvalidRequest)


def test_history_over_its_total_budget_is_refused():
    # Given a history whose items are each allowed but whose sum is not (it is echoed back in the reply)
    item = "Human: " + "x" * (MAX_HISTORY_ITEM_CHARS - 7)
    history = [item] * (MAX_HISTORY_CHARS // MAX_HISTORY_ITEM_CHARS + 1)
    assert len(history) <= MAX_HISTORY_ITEMS
    # Then the domain check and the request model both refuse it, saying why
    with pytest.raises(InvalidRequest, match=f"history is limited to {MAX_HISTORY_CHARS} characters in all"):
        check_history(history)
    with pytest.raises(ValueError, match="characters in all"):
        ChatRequest(model_name="m", question="q", history=history)
    assert ChatRequest(model_name="m", question="  q  ", history=history[:1]).question == "q"


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CDGPT_CHUNK_OVERLAP": "900", "CDGPT_CHUNK_CHARS": "800"}, "CDGPT_CHUNK_OVERLAP must be smaller than"),
        ({"CDGPT_MIN_SCORE": "5"}, "CDGPT_MIN_SCORE: Input should be less than or equal to 1"),
        ({"CDGPT_MIN_SCORE": "abc"}, "CDGPT_MIN_SCORE: Input should be a valid number"),
        ({"CDGPT_CORS_ORIGINS": "https://a.example, notanorigin"}, "'notanorigin' is not scheme://host[:port]"),
        ({"CDGPT_WORK_DIR": "/nonexistent-folder"}, "CDGPT_WORK_DIR must be an existing folder"),
        ({"CDGPT_DATA_DIR": __file__}, "CDGPT_DATA_DIR must be a folder, not a file"),
        ({"CDGPT_ANSWERS": "llm"}, "CDGPT_ANSWERS=llm needs OPENAI_API_KEY"),
    ],
)
def test_a_wrong_setting_is_named_and_no_value_of_the_environment_is_quoted(monkeypatch, env, message):
    from cdgpt.clients import reset_clients
    from cdgpt.settings import InvalidSettings

    monkeypatch.setenv("CDGPT_RERANK_API_KEY", "rk-do-not-print-me")  # pydantic quotes the whole input
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_clients()
    with pytest.raises(InvalidSettings) as caught:
        get_settings()
    assert message in str(caught.value) and "do-not-print-me" not in str(caught.value)
    assert caught.value.__suppress_context__  # pydantic's message is not chained into a logged traceback
    reset_clients()
