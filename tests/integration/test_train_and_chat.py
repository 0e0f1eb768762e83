"""Train on the sample handbook, then chat: local embeddings with extractive answers, and OpenAI via the stub."""

from __future__ import annotations

import json
import re

import faiss
import numpy as np
import pytest

from cdgpt.answer import languages
from cdgpt.answer.answering import DEFAULT_PROMPT, EXTRACTIVE_LABEL, NOT_COVERED, chat, system_prompt
from cdgpt.answer.evaluation import matches
from cdgpt.answer.queries import REWRITE_MAX_TOKENS, REWRITE_PROMPT, search_query
from cdgpt.answer.relevance import MIN_SIMILARITY, Evidence, held_together
from cdgpt.answer.retrieval import lexical_weight, load_model, search
from cdgpt.clients import reset_clients
from cdgpt.errors import ModelMismatch, TrainingFailed
from cdgpt.index.embeddings import LOCAL_MODEL, make_embedder
from cdgpt.index.probes import PROBES
from cdgpt.models.registry import read_manifest
from cdgpt.models.store import LocalStore, default_store
from cdgpt.settings import Settings, get_settings
from tests.support import REPO
from tests.support.fixtures_openai import openai_stub  # noqa: F401
from tests.support.openai_stub import stub_answer
from tests.support.training import CountingEmbedder, trained

HANDBOOK = "samples/handbook"
QUESTIONS = [
    json.loads(line) for line in (REPO / "samples/questions.jsonl").read_text("utf-8").splitlines() if line.strip()
]
COVERED = [q for q in QUESTIONS if q["expected_source"]]
UNCOVERED = [q["question"] for q in QUESTIONS if not q["expected_source"]]
OFF_TOPIC = "Who won the 1998 FIFA World Cup final?"
# Off-topic, and a near miss with the local embedder: its best cosine is printed by the margin test below.
PERU = "what is the capital of Peru's football league budget"
# "[n] title > heading > ... (source)" in the LLM context
PASSAGE_SOURCE = re.compile(r"^\[\d+\] .* \(([^()]+)\)$", re.MULTILINE)


@pytest.fixture
def source_root(monkeypatch):
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(REPO))
    reset_clients()
    return REPO


@pytest.fixture(scope="module")
def handbook_store(tmp_path_factory) -> LocalStore:
    """The handbook trained once for the module with the local embedder, in its own folder."""
    settings = Settings(CDGPT_SOURCE_ROOT=REPO, CDGPT_EMBEDDINGS="local", CDGPT_DATA_DIR=tmp_path_factory.mktemp("hb"))
    store = LocalStore(settings.data_dir)
    trained("handbook", [HANDBOOK], settings=settings, store=store, embedder=make_embedder(settings, "local"))
    return store


# -- local embeddings, extractive answers ---------------------------------------------------------


def test_train_result_reports_sizes_counts_version_and_sources(source_root):
    result = trained("handbook", [HANDBOOK])
    data_dir = get_settings().data_dir
    manifest, _ = read_manifest(LocalStore(data_dir), "handbook")
    model_dir = data_dir / "models/handbook"
    index_file = model_dir / manifest.files["index"]
    docstore_files = [model_dir / manifest.files[name] for name in ("docstore", "docstore_index")]

    assert result["model_name"] == "handbook"
    assert result["size_type"] == "kb"
    assert result["index_model_size"] == round(index_file.stat().st_size / 1024, 4)
    assert result["pkl_model_size"] == round(sum(f.stat().st_size for f in docstore_files) / 1024, 4)
    assert isinstance(result["index_model_size"], float) and result["index_model_size"] > 0
    assert result["version"] == 1 and result["version_id"] == manifest.version_id
    assert result["documents"] == 9 == manifest.counts["documents"]
    assert result["chunks"] == manifest.counts["chunks"] > 9
    assert result["sources"] == [{"entry": HANDBOOK, "status": "ok", "reason": None}]
    assert manifest.embedding.model_dump() == {"provider": "local", "model": LOCAL_MODEL, "dim": 512}
    assert {d["source"] for d in manifest.sources[0].documents} == {
        f"{HANDBOOK}/{p.name}" for p in (REPO / HANDBOOK).iterdir()
    }
    index = faiss.deserialize_index(np.frombuffer(index_file.read_bytes(), dtype=np.uint8))
    assert index.ntotal == result["chunks"] and index.d == 512


@pytest.mark.parametrize(
    "item", COVERED, ids=[q["expected_source"].rsplit("/", 1)[-1] + f"-{i}" for i, q in enumerate(COVERED)]
)
def test_covered_question_cites_its_source_with_an_extractive_answer(handbook_store, item):
    result = chat("handbook", item["question"], store=handbook_store)
    sources = [s["source"] for s in result["sources"]]
    assert any(matches(source, item["expected_source"]) for source in sources), result["sources"]
    assert result["answer_mode"] == "extractive"
    assert result["answer"].startswith(EXTRACTIVE_LABEL + "\n")
    assert "[1]" in result["answer"]
    assert result["model_version"] == 1
    assert result["history"] == [f"Human: {item['question']}", f"Bot: {result['answer']}"]
    assert len(sources) == len(set(sources))  # one entry per document
    for source in result["sources"]:
        assert (
            set(source) == {"source", "title", "score", "snippet", "page", "url"}
            and source["title"]
            and source["snippet"]
        )
        assert 0 <= source["score"] <= 1  # fused vector and BM25 score
    scores = [s["score"] for s in result["sources"]]
    assert scores == sorted(scores, reverse=True)


# The fact each question asks for, as the handbook words it.
FACTS = {
    "What is the helpdesk extension?": "Call extension 2300",  # its sentence does not name the helpdesk
    "What is the maximum I can spend on a hotel per night in London on a business trip?": "£190",  # a table row
    "How many days of paid annual leave does a full-time employee get per year?": "25 days",
    "What mileage rate can I claim when I drive my own car for a business journey?": "45p per mile",
    "What is the minimum length of a Brightwheel password?": "at least 14 characters",
    "Which day of the week do hybrid workers always have to be in the office?": "always Tuesday",
    "How much does the company pay into my pension if I raise my own contribution to 6%?": "its contribution to 8%",
    "上海办公室的午餐补贴是每天多少钱？": "每天25元",
}


@pytest.mark.parametrize("question", FACTS)
def test_the_extractive_answer_quotes_the_fact_asked_for(handbook_store, question):
    assert FACTS[question] in chat("handbook", question, store=handbook_store)["answer"]


def test_chinese_sentences_of_an_extractive_answer_follow_each_other_without_a_space(handbook_store):
    answer = chat("handbook", "上海办公室的午餐补贴是每天多少钱？", store=handbook_store)["answer"]
    assert "每天25元的午餐补贴，随当月工资发放。园区" in answer
    assert not re.search(r"[。！？；] [^\[]", answer)  # a space only before a citation


ENGLISH_PAGES = [f"{HANDBOOK}/{name}" for name in ("it-and-security.html", "leave-and-holidays.md")]


@pytest.fixture(scope="module")
def english_store(tmp_path_factory) -> LocalStore:
    """Only English pages of the handbook: the model holds no Chinese term."""
    settings = Settings(CDGPT_SOURCE_ROOT=REPO, CDGPT_EMBEDDINGS="local", CDGPT_DATA_DIR=tmp_path_factory.mktemp("en"))
    store = LocalStore(settings.data_dir)
    trained("english", ENGLISH_PAGES, settings=settings, store=store, embedder=make_embedder(settings, "local"))
    return store


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("IT服务台的分机号码是多少？", "it-and-security.html"),
        ("密码最少要多少个字符？", "it-and-security.html"),
        ("每年有多少天带薪年假？", "leave-and-holidays.md"),
        ("明天上海会下雨吗？", None),
        ("怎么做红烧肉？", None),
    ],
)
def test_without_a_language_model_a_chinese_question_is_answered_from_english_pages(english_store, question, expected):
    """The multilingual vectors find the page; the question's Chinese terms, which no English page can
    hold, are not counted as missing evidence. Off-topic questions are still not covered."""
    result = chat("english", question, store=english_store)
    assert [s["source"].rsplit("/", 1)[-1] for s in result["sources"][:1]] == ([expected] if expected else [])
    assert (result["answer"] == NOT_COVERED) == (expected is None)


def test_a_chinese_question_is_also_searched_in_its_english_glosses_which_rank_but_are_no_evidence(english_store):
    """Without a language model, the dictionary's English for the question's words finds English pages by
    BM25; whether the pages cover the question is still decided by the question's own evidence."""
    settings = Settings(CDGPT_EMBEDDINGS="local")
    english = load_model("english", english_store, settings)
    question = "IT服务台的分机号码是多少？"
    query = search_query(question, [], english, settings)
    assert query.glosses is not None and {"IT", "service", "extension", "number"} <= set(query.glosses.split())
    glossed, plain = search(english, query, 4, 0.4), search(english, question, 4, 0.4)
    assert glossed.evidence == plain.evidence
    first = glossed.documents[0]
    assert first.chunk["source"].endswith("it-and-security.html")
    assert first.score > next(h.score for h in plain.documents if h.chunk["source"] == first.chunk["source"])
    # Not for an English or a Japanese question
    assert search_query("What is the IT helpdesk's extension?", [], english, settings).glosses is None
    assert languages.glosses_of("ヘルプデスクの内線番号は何番ですか", english) is None


def test_history_is_extended_not_replaced(handbook_store):
    history = ["Human: hello", "Bot: Hi, ask me about the handbook."]
    question = COVERED[0]["question"]
    result = chat("handbook", f"  {question}  ", history, store=handbook_store)
    assert result["history"] == [*history, f"Human: {question}", f"Bot: {result['answer']}"]
    assert history == ["Human: hello", "Bot: Hi, ask me about the handbook."]  # the caller's list is untouched


@pytest.mark.parametrize(
    "question",
    [
        *UNCOVERED,
        OFF_TOPIC,
        PERU,
    ],
)
def test_uncovered_question_gets_the_not_covered_answer(handbook_store, question):
    result = chat("handbook", question, ["Human: earlier", "Bot: reply"], store=handbook_store)
    assert result["answer"] == NOT_COVERED
    assert result["sources"] == []
    assert result["answer_mode"] == "none"
    assert result["history"][-2:] == [f"Human: {question}", f"Bot: {NOT_COVERED}"]


@pytest.mark.parametrize(
    ("question", "without_it", "page"),
    [
        ("How do I reset my Okta password?", "How do I reset my password?", "it-and-security.html"),
        ("How do I book a flight on Expedia?", "How do I book a flight?", "expenses-and-travel.html"),
        ("How do I submit expenses in Concur?", "How do I submit expenses?", "expenses-and-travel.html"),
        ("What is the dress code?", "Who do I tell about a breach of the code?", "code-of-conduct.md"),
        ("Can I bring my dog to work?", "Can I bring a visitor to work?", "millbrook-office-guide.md"),
        ("微信转账每天的限额是多少？", "报销每天的限额是多少？", "shanghai-office-guide-zh.md"),
    ],
)
def test_a_question_about_what_the_pages_never_mention_is_not_covered(handbook_store, question, without_it, page):
    """The handbook covers passwords, flights, expenses, a code, work and daily limits, but names no Okta,
    Expedia or Concur (a name needs a higher cosine) and has no dress, dog or 转账: a question whose terms
    it holds less than half of needs a closer passage than these (cosine 0.26-0.28)."""
    refused_beside(handbook_store, question, without_it, page)


@pytest.mark.parametrize("question", ["端午节放假吗？", "元旦放假吗？", "发票抬头要写英文全称吗？"])
def test_a_chinese_name_the_pages_lack_is_not_covered_but_a_holiday_or_a_language_is_no_name(handbook_store, question):
    """钉钉 is a proper noun in the dictionary and no page holds it; holidays and languages are proper nouns
    there too, but no product's name (the Shanghai guide writes neither 元旦 nor 英文)."""
    refused_beside(handbook_store, "在钉钉上怎么申请年假？", "怎么申请年假？", "shanghai-office-guide-zh.md")
    assert chat("handbook", question, store=handbook_store)["sources"][0]["source"].endswith(
        "shanghai-office-guide-zh.md"
    )


def refused_beside(store: LocalStore, question: str, answered: str, page: str) -> None:
    """The question is not covered, while one that shares its other words finds the page."""
    assert chat("handbook", question, store=store)["answer"] == NOT_COVERED
    assert chat("handbook", answered, store=store)["sources"][0]["source"].endswith(page)


@pytest.mark.parametrize(
    ("question", "with_its_page", "page"),
    [
        (
            "How do I submit an expense claim in RoomDesk?",
            "How do I book a meeting room in RoomDesk?",
            "millbrook-office-guide.md",
        ),
        (
            "How do I claim travel expenses in Trailhead?",
            "Where do I enter my bank details in Trailhead?",
            "onboarding.md",
        ),
    ],
)
def test_a_name_the_pages_found_never_use_is_not_covered(handbook_store, question, with_its_page, page):
    """The handbook names RoomDesk and Trailhead, but not on the expenses pages these questions find."""
    refused_beside(handbook_store, question, with_its_page, page)


@pytest.mark.parametrize(
    ("search", "page"),
    [
        ("laptop", "it-and-security.html"),
        ("IT helpdesk", "it-and-security.html"),
        ("What is onboarding?", "onboarding.md"),
        ("Who is my buddy?", "onboarding.md"),
        ("年假", "shanghai-office-guide-zh.md"),
        ("极端天气", "shanghai-office-guide-zh.md"),  # three bigrams: two words
        ("極端天氣", "shanghai-office-guide-zh.md"),  # in traditional characters, folded into simplified
    ],
)
def test_a_keyword_search_the_headings_hold_is_covered(handbook_store, search, page):
    """One or two words score a low cosine with any passage ("laptop": 0.16, under the floor), but a
    heading of the first passages found holds each of them ("Looking after your laptop")."""
    result = chat("handbook", search, store=handbook_store)
    assert result["answer"] != NOT_COVERED
    assert result["sources"][0]["source"].endswith(page)


@pytest.mark.parametrize("search", ["good morning", "please", "1", "How are you today?", "how does this work", "謝謝"])
def test_a_greeting_or_filler_is_not_covered(handbook_store, search):
    """Greetings and fillers find passages that use their words ("morning"), but no heading does; a
    word pointing at what was said ("this") makes no keyword search of a heading's word ("work")."""
    assert chat("handbook", search, store=handbook_store)["answer"] == NOT_COVERED


def test_scores_separate_covered_from_uncovered_questions(handbook_store):
    """The margin around the local threshold (printed with -s, for tuning MIN_SIMILARITY)."""
    settings = get_settings()
    model = load_model("handbook", handbook_store, settings)

    def evidence(question: str) -> Evidence:  # what chat decides on: the best cosine of any chunk, and the terms
        return search(model, question, settings.top_k, lexical_weight(model, settings)).evidence

    covered = {q["question"]: evidence(q["question"]) for q in COVERED}
    uncovered = {q: evidence(q) for q in [*UNCOVERED, OFF_TOPIC, PERU]}
    print("\nlocal best cosine per question (threshold {}):".format(MIN_SIMILARITY["local"]))
    for question, found in [*covered.items(), *uncovered.items()]:
        print(f"  {found.similarity:.4f} {'covered  ' if question in covered else 'uncovered'} {question}")
    floor = MIN_SIMILARITY["local"]
    assert max(uncovered[q].similarity for q in [*UNCOVERED, OFF_TOPIC]) < floor
    assert floor <= min(found.similarity for found in covered.values() if not held_together(found))
    under = [question for question, found in covered.items() if found.similarity < floor]
    assert under == ["What is the dental cover?", "What is the eye care benefit?"]  # entries of a list, held together


def test_a_failing_source_is_reported_and_training_goes_on(source_root, tmp_path):
    entries = [
        f"{HANDBOOK}/benefits.txt",
        f"{HANDBOOK}/no-such-file.md",  # missing
        "../outside-the-root.txt",  # refused: leaves the source root
        "http://127.0.0.1:9/internal",  # refused: not a public address
        "ftp://example.com/x.txt",  # refused: scheme
        f"{HANDBOOK}/remote-work.md",
    ]
    result = trained("partial", entries)
    status = {s["entry"]: s for s in result["sources"]}
    assert [s["entry"] for s in result["sources"]] == entries
    assert status[entries[0]]["status"] == status[entries[-1]]["status"] == "ok"
    assert status[entries[0]]["reason"] is None
    assert "no such file" in status[entries[1]]["reason"]
    assert "outside the source root" in status[entries[2]]["reason"]
    assert "not public" in status[entries[3]]["reason"]
    assert "unsupported scheme" in status[entries[4]]["reason"]
    assert all(status[e]["status"] == "failed" for e in entries[1:5])
    assert result["documents"] == 2

    manifest, _ = read_manifest(default_store(get_settings()), "partial")
    # the private URL is a document that failed to load; the other three failed as whole entries
    assert manifest.counts == {
        "sources": 6,
        "sources_failed": 4,
        "documents": 2,
        "documents_failed": 1,
        "chunks": result["chunks"],
        "chunks_embedded": result["chunks"],
        "documents_unchanged": 0,
        "documents_kept": 0,
        "documents_dropped": 0,
    }
    answer = chat("partial", "Which day of the week do hybrid workers always have to be in the office?")
    assert f"{HANDBOOK}/remote-work.md" in [s["source"] for s in answer["sources"]]


def test_all_sources_failing_raises_and_writes_nothing(source_root):
    entries = [f"{HANDBOOK}/missing.md", "../etc/passwd", "gopher://example.com/"]
    with pytest.raises(TrainingFailed) as caught:
        trained("broken", entries)
    message = str(caught.value)
    assert "no source could be used" in message
    for entry, reason in zip(entries, ["no such file", "outside the source root", "unsupported scheme"], strict=True):
        assert entry in message and reason in message
    store = default_store(get_settings())
    assert store.keys("models/") == []
    data_dir = get_settings().data_dir
    assert not data_dir.exists() or [p for p in data_dir.rglob("*") if p.is_file()] == []


def test_all_sources_failing_leaves_the_previous_version_serving(source_root):
    trained("kept", [f"{HANDBOOK}/benefits.txt"])
    store = default_store(get_settings())
    before = sorted(store.keys("models/kept/"))
    with pytest.raises(TrainingFailed):
        trained("kept", [f"{HANDBOOK}/missing.md"])
    assert sorted(store.keys("models/kept/")) == before
    assert read_manifest(store, "kept")[0].version == 1


# Questions whose quoted passages come partly from documents whose best-ranked chunk is below the bar.
QUOTING_QUESTIONS = [
    "Returning your laptop when you leave",
    "Which file holds the default host name that Debian programs use for outgoing mail?",
    "Which end-of-line codes do Unix, MS-DOS/Windows and classic Mac OS use?",
    "We can wipe a device remotely, but only if we know about it quickly",
]


def test_sources_list_every_document_the_answer_quotes(handbook_store, openai_stub):
    """LLM answers (via the stub) over the locally embedded handbook: each context passage's document is a source."""
    for question in [*QUOTING_QUESTIONS, *(q["question"] for q in COVERED)]:
        before = len(openai_stub.chat_requests)
        reply = chat("handbook", question, store=handbook_store)
        if reply["answer"] == NOT_COVERED:
            assert len(openai_stub.chat_requests) == before and reply["sources"] == []
            continue
        context = openai_stub.chat_requests[-1].body["messages"][-1]["content"]
        quoted = set(PASSAGE_SOURCE.findall(context))
        listed = {s["source"] for s in reply["sources"]}
        assert quoted and quoted <= listed, (question, quoted, listed)
    assert openai_stub.embedding_requests == []  # the questions are embedded locally, as at training


# -- OpenAI embeddings and LLM answers through the stub -------------------------------------------

PROMPT = "You are the Brightwheel handbook assistant. Answer in one sentence and cite passages."


def test_openai_train_and_chat_builds_the_prompt(openai_stub, source_root):
    result = trained("handbook", [HANDBOOK], prompt=PROMPT)
    manifest, _ = read_manifest(default_store(get_settings()), "handbook")
    assert manifest.embedding.model_dump() == {"provider": "openai", "model": "text-embedding-3-small", "dim": 64}
    assert manifest.prompt == PROMPT
    embedded = [t for r in openai_stub.embedding_requests for t in r.body["input"]]
    probes = [q for questions in PROBES.values() for q in questions]  # the background's, embedded once
    assert len(embedded) == result["chunks"] + len(probes) and embedded[-len(probes) :] == probes

    history = ["Human: Hello there", "Bot: Hello! Ask me about the handbook."]
    question = "How many days of paid annual leave does a full-time employee get per year?"
    reply = chat("handbook", question, history)

    assert reply["answer_mode"] == "llm"
    assert reply["sources"]
    # One short call made the question standalone from the history (the stub repeats it), then one answered.
    [rewrite, request] = openai_stub.chat_requests
    assert rewrite.body["messages"][0] == {"role": "system", "content": REWRITE_PROMPT}
    assert rewrite.body["max_tokens"] == REWRITE_MAX_TOKENS
    assert reply["search_queries"] == [question]
    body = request.body
    assert request.headers["authorization"] == "Bearer test-key"
    assert body["model"] == "gpt-4o-mini"
    messages = body["messages"]
    # The grounding and citation rules come first; the model's prompt only after them.
    assert messages[0] == {"role": "system", "content": system_prompt(PROMPT)}
    assert messages[0]["content"].startswith(DEFAULT_PROMPT) and PROMPT in messages[0]["content"]
    assert messages[1:3] == [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Hello! Ask me about the handbook."},
    ]
    last = messages[-1]
    assert last["role"] == "user" and len(messages) == 4
    assert last["content"].startswith("Context:\n[1] ")
    assert last["content"].endswith(f"\n\nQuestion: {question}")
    numbers = [int(m) for m in re.findall(r"^\[(\d+)\] ", last["content"], re.MULTILINE)]
    n = len(numbers)
    assert 1 <= n <= get_settings().top_k
    # Passages are numbered by the source they come from: [k] is reply["sources"][k - 1].
    assert numbers[0] == 1 and set(numbers) <= set(range(1, len(reply["sources"]) + 1))
    quoted = set(PASSAGE_SOURCE.findall(last["content"]))
    assert quoted and quoted <= {s["source"] for s in reply["sources"]}
    # Each passage is headed by its title and the headings above it
    leave = f"] Leave and Holidays Policy > Annual leave > Entitlement ({HANDBOOK}/leave-and-holidays.md)\n"
    assert leave in last["content"]
    assert reply["answer"] == stub_answer(n, len(last["content"]))
    assert reply["history"] == [*history, f"Human: {question}", f"Bot: {reply['answer']}"]
    # The question was embedded with the model's embedder: one more embeddings request, for it alone.
    assert openai_stub.embedding_requests[-1].body["input"] == [question]
    assert reply["conversation_id"] is None


def test_openai_chat_without_a_training_prompt_uses_the_default(openai_stub, source_root):
    trained("plain", [f"{HANDBOOK}/remote-work.md"])
    chat("plain", "Which day do hybrid workers have to be in the office?")
    [request] = openai_stub.chat_requests
    assert request.body["messages"][0] == {"role": "system", "content": DEFAULT_PROMPT}


def test_openai_chat_upstream_failure_is_an_upstream_error(openai_stub, source_root):
    from cdgpt.errors import UpstreamError

    trained("plain", [f"{HANDBOOK}/remote-work.md"])
    openai_stub.fail_next(500, times=10, path="/v1/chat/completions")
    with pytest.raises(UpstreamError, match="the language model answered HTTP 500"):
        chat("plain", "Which day do hybrid workers have to be in the office?")
    assert len(openai_stub.chat_requests) == 3


def test_openai_trained_model_without_openai_configuration_is_a_mismatch(openai_stub, source_root, monkeypatch):
    trained("handbook", [f"{HANDBOOK}/benefits.txt"])
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    reset_clients()
    with pytest.raises(ModelMismatch, match="trained with OpenAI embeddings: set OPENAI_API_KEY or OPENAI_BASE_URL"):
        chat("handbook", "What does the company pay into my pension?")


def test_openai_trained_model_with_local_embeddings_forced_is_a_mismatch(openai_stub, source_root, monkeypatch):
    trained("handbook", [f"{HANDBOOK}/benefits.txt"])
    monkeypatch.setenv("CDGPT_EMBEDDINGS", "local")
    reset_clients()
    with pytest.raises(ModelMismatch) as caught:
        chat("handbook", "What does the company pay into my pension?")
    message = str(caught.value)
    assert "'handbook' was trained with openai embeddings (text-embedding-3-small)" in message
    assert "CDGPT_EMBEDDINGS=local" in message


def test_local_trained_model_with_openai_embeddings_forced_is_a_mismatch(source_root, monkeypatch):
    trained("handbook", [f"{HANDBOOK}/benefits.txt"])
    monkeypatch.setenv("CDGPT_EMBEDDINGS", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "unused-key")
    reset_clients()
    with pytest.raises(ModelMismatch, match="trained with local embeddings"):
        chat("handbook", "What does the company pay into my pension?")


def test_local_trained_model_answers_with_the_llm_when_openai_is_configured(openai_stub, source_root, monkeypatch):
    monkeypatch.setenv("CDGPT_EMBEDDINGS", "local")
    reset_clients()
    trained("handbook", [f"{HANDBOOK}/benefits.txt"])
    monkeypatch.delenv("CDGPT_EMBEDDINGS")
    reset_clients()
    reply = chat("handbook", "How much does the company pay into my pension if I raise my own contribution to 6%?")
    assert openai_stub.embedding_requests == []  # the question is embedded locally, as at training
    assert reply["answer_mode"] == "llm" and reply["answer"].startswith("Stub answer from")


def test_one_bad_file_in_a_folder_skips_only_that_file(tmp_path, monkeypatch):
    # Given a folder of good documents with an empty file, an image and a hidden .env beside them
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "leave.md").write_text("# Leave\n\nEveryone gets 25 days of annual leave.\n")
    (folder / "vpn.md").write_text("# VPN\n\nThe VPN is called TunnelGate.\n")
    (folder / "empty.md").write_text("")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (folder / ".env").write_text("API_SECRET=do-not-index-me\n")
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(tmp_path))
    reset_clients()
    # When the folder is trained
    result = trained("docs", ["docs"])
    # Then the good documents are indexed, the bad ones reported, the hidden one never read
    [entry] = result["sources"]
    assert entry["status"] == "ok" and entry["reason"].startswith("2 of 4 documents skipped (first: docs/")
    assert result["documents"] == 2
    manifest, _ = read_manifest(LocalStore(get_settings().data_dir), "docs")
    records = {d["source"]: d for d in manifest.sources[0].documents}
    assert set(records) == {"docs/leave.md", "docs/vpn.md", "docs/empty.md", "docs/logo.png"}
    assert records["docs/empty.md"]["reason"] == "no text found" and "sha256" in records["docs/leave.md"]
    assert "do-not-index-me" not in chat("docs", "What is the API secret?")["answer"]


def test_a_damaged_model_does_not_stop_the_scheduled_retrain_of_the_others(in_repo):
    from cdgpt.models.registry import manifest_key
    from cdgpt.operations import job_status, schedule_retrains, wait_for

    # Given two models, one of whose manifests was written by something else
    for name in ("broken", "fine"):
        trained(name, [f"{HANDBOOK}/benefits.txt"])
    LocalStore(get_settings().data_dir).put(manifest_key("broken"), b'{"format": 99}')
    # When every model is retrained on the schedule
    started = schedule_retrains(["*"])
    # Then only the readable model gets a job, and it publishes version 2
    assert list(started) == ["fine"] and started["fine"].startswith("j")
    job = wait_for(started["fine"], 60)
    assert job.status == "succeeded" and job.result is not None and job.result.version == 2
    assert job_status(started["fine"]).origin == "schedule"


def test_the_schedule_starts_its_models_jobs_side_by_side(monkeypatch):
    """Hundreds of models must start within the scheduled function's 29 s: one after another they would not."""
    import threading
    from types import SimpleNamespace

    from cdgpt import operations

    names = [f"m{n}" for n in range(operations.SCHEDULE_STARTERS)]
    together = threading.Barrier(len(names), timeout=30)  # broken unless all are under way at once

    def start_job(request, **_):
        together.wait()
        return SimpleNamespace(created=True, job=SimpleNamespace(job_id=f"j-{request.model_name}"))

    monkeypatch.setattr(operations, "start_job", start_job)
    assert operations.schedule_retrains(names) == {name: f"j-{name}" for name in names}


def test_a_scheduled_retrain_that_lost_a_source_is_flagged_for_attention(tmp_path, monkeypatch):
    from cdgpt.operations import schedule_retrains, wait_for
    from cdgpt.training.worker import needs_attention

    # Given a model of two files, one of which has gone by the night's retraining
    (tmp_path / "docs").mkdir()
    for name in ("leave.md", "vpn.md"):
        (tmp_path / "docs" / name).write_text(f"# {name}\n\nEveryone gets 25 days of annual leave.\n")
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(tmp_path))
    reset_clients()
    trained("docs", ["docs/leave.md", "docs/vpn.md"])
    (tmp_path / "docs" / "vpn.md").unlink()
    # When the schedule retrains it
    job = wait_for(schedule_retrains(["docs"])["docs"], 60)
    # Then the smaller version is published, and the job reaches the dead-letter queue's alarm
    assert job.status == "succeeded" and job.result is not None and job.result.documents == 1
    reason = needs_attention(job)
    assert reason is not None and "with 1 sources failing, 1 documents dropped and 0 kept as they were" in reason
    assert reason.endswith(
        "; first: docs/vpn.md: no such file or folder in the source root (CDGPT_SOURCE_ROOT): docs/vpn.md"
    )
    # but a training somebody asked for reports the same loss in its answer, and nothing more
    assert needs_attention(job.model_copy(update={"origin": "api"})) is None


def test_a_document_skipped_version_after_version_raises_no_attention(tmp_path, monkeypatch):
    from cdgpt.operations import schedule_retrains, wait_for
    from cdgpt.training.worker import needs_attention

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "leave.md").write_text("# Leave\n\nEveryone gets 25 days of annual leave.\n")
    (tmp_path / "docs" / "empty.md").write_text("")  # skipped at every training: "no text found"
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(tmp_path))
    reset_clients()
    trained("docs", ["docs"])
    job = wait_for(schedule_retrains(["docs"])["docs"], 60)
    assert job.result is not None and "1 of 2 documents skipped" in (job.result.sources[0].reason or "")
    assert (job.result.documents_dropped, job.result.documents_kept) == (0, 0)
    assert needs_attention(job) is None


def test_retraining_embeds_only_text_that_changed(tmp_path, monkeypatch):
    # Given a trained folder of two documents
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "leave.md").write_text("# Leave\n\nEveryone gets 25 days of annual leave.\n")
    (tmp_path / "docs" / "vpn.md").write_text("# VPN\n\nThe VPN is called TunnelGate.\n")
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(tmp_path))
    reset_clients()
    embedder = CountingEmbedder()
    first = trained("docs", ["docs"], embedder=embedder)
    assert first["chunks_embedded"] == first["chunks"] == len(embedder.texts) == 2
    # When it is retrained unchanged, then nothing is embedded again and answers are the same
    before = chat("docs", "What is the VPN called?")
    again = trained("docs", ["docs"], embedder=embedder)
    assert again["chunks_embedded"] == 0 and len(embedder.texts) == 2 and again["version"] == 2
    assert chat("docs", "What is the VPN called?")["sources"] == before["sources"]
    # When one document changes, then only its chunk is embedded
    (tmp_path / "docs" / "vpn.md").write_text("# VPN\n\nThe VPN is called TunnelGate; it needs a hardware key.\n")
    changed = trained("docs", ["docs"], embedder=embedder)
    assert changed["chunks_embedded"] == 1 and len(embedder.texts) == 3
    assert "hardware key" in chat("docs", "What does the VPN need?")["answer"]


def test_a_document_named_twice_is_indexed_once(in_repo):
    # Given a folder and, again, one file inside it
    result = trained("twice", [HANDBOOK, f"{HANDBOOK}/benefits.txt"])
    # Then the file's chunks are not duplicated and the second entry says why it added nothing
    once = trained("once", [HANDBOOK])
    assert result["chunks"] == once["chunks"] and result["documents"] == once["documents"] == 9
    assert result["sources"][1] == {
        "entry": f"{HANDBOOK}/benefits.txt",
        "status": "ok",
        "reason": "already included by an earlier entry",
    }


@pytest.fixture(scope="module")
def taiwan_store(tmp_path_factory) -> LocalStore:
    """Pages in Traditional Chinese with Taiwan's words (軟體, 記憶體), and one in English."""
    pages = tmp_path_factory.mktemp("tw-pages")
    (pages / "software.md").write_text(
        "# 軟體更新\n\n公司電腦的軟體由資訊部統一更新，請勿自行安裝未經核准的程式。每月第一個週五晚上自動更新。\n",
        encoding="utf-8",
    )
    (pages / "memory.md").write_text(
        "# 記憶體不足\n\n筆記型電腦的記憶體不足時，請關閉不用的分頁，或向資訊部申請升級到 16 GB。\n", encoding="utf-8"
    )
    (pages / "leave.md").write_text(  # kana in the pages leave their Traditional Chinese Traditional
        "# Annual leave\n\nEvery employee gets 25 days of paid leave a year (有給休暇の日数).\n", encoding="utf-8"
    )
    settings = Settings(CDGPT_SOURCE_ROOT=pages, CDGPT_EMBEDDINGS="local", CDGPT_DATA_DIR=pages / "data")
    store = LocalStore(settings.data_dir)
    files = ["software.md", "memory.md", "leave.md"]
    trained("taiwan", files, settings=settings, store=store, embedder=make_embedder(settings, "local"))
    return store


def test_a_simplified_question_is_also_searched_in_taiwans_words_on_traditional_pages(taiwan_store, handbook_store):
    """软件 and 内存 are 軟體 and 記憶體 in Taiwan: folding characters alone (软体, 记忆体) misses them. Pages
    in Simplified Chinese are not searched so."""
    settings = get_settings()
    taiwan, handbook = (
        load_model(name, store, settings) for name, store in [("taiwan", taiwan_store), ("handbook", handbook_store)]
    )
    assert languages.taiwan_wording("公司电脑的软件多久更新一次？", taiwan) == "公司电脑的软体多久更新一次？"
    assert languages.taiwan_wording("内存不够用怎么办", taiwan) == "记忆体不够用怎么办"
    assert languages.taiwan_wording("記憶體不夠用怎麼辦", taiwan) is None  # Traditional: `mainland_wording`'s
    assert languages.taiwan_wording("How much memory?", taiwan) is None
    assert languages.taiwan_wording("会社のソフトはいつ更新しますか", taiwan) is None  # Japanese
    assert languages.taiwan_wording("内存不够用怎么办", handbook) is None  # the handbook's Chinese is Simplified
    # chat searches with both wordings
    query = search_query("内存不够用怎么办", [], taiwan, Settings(CDGPT_EMBEDDINGS="local"))
    assert query.translations == ("记忆体不够用怎么办",)
