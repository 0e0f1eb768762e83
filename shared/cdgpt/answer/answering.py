"""Answering: retrieve the closest chunks, then answer with an LLM or extractively, citing sources."""

from __future__ import annotations

from typing import Any

from cdgpt.answer.retrieval import Hit, load_model, retrieve
from cdgpt.errors import InvalidRequest, UpstreamError
from cdgpt.index.lexical import tokenize
from cdgpt.ingest.chunking import split_sentences
from cdgpt.limits import MAX_HISTORY_CHARS, MAX_HISTORY_ITEM_CHARS, MAX_HISTORY_ITEMS, MAX_QUESTION_CHARS
from cdgpt.models.store import ArtifactStore, default_store
from cdgpt.settings import Settings, get_settings

HISTORY_BUDGET_CHARS = 6000  # how much recent history goes into the LLM prompt
SNIPPET_CHARS = 300
NOT_COVERED = "The documents do not cover this question."
EXTRACTIVE_LABEL = "Extractive answer (quoted from the documents; no language model is configured):"
DEFAULT_PROMPT = (
    "You answer questions about a company's documents. Use only the context passages, each numbered "
    "by the document it comes from, and cite those numbers, as [1] or [2]. If the context does not "
    "contain the answer, say that the documents do not cover it. Answer in the language of the question."
)


def check_question(question: object) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidRequest("question must be a non-empty string")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidRequest(f"question is longer than {MAX_QUESTION_CHARS} characters")
    return question.strip()


def check_history(history: object) -> list[str]:
    if history is None:
        return []
    if not isinstance(history, list) or not all(isinstance(item, str) for item in history):
        raise InvalidRequest('history must be a list of strings like "Human: ..." and "Bot: ..."')
    if len(history) > MAX_HISTORY_ITEMS or any(len(item) > MAX_HISTORY_ITEM_CHARS for item in history):
        raise InvalidRequest(f"history is limited to {MAX_HISTORY_ITEMS} items of {MAX_HISTORY_ITEM_CHARS} characters")
    if sum(map(len, history)) > MAX_HISTORY_CHARS:
        raise InvalidRequest(f"history is limited to {MAX_HISTORY_CHARS} characters in all")
    return history


def extractive_answer(question: str, hits: list[Hit], numbers: dict[str, int], embedder, limit: int = 3) -> str:
    """The sentences of the retrieved chunks closest to the question, in rank order, cited as [n]."""
    candidates = [
        (rank, i, s) for rank, hit in enumerate(hits) for i, s in enumerate(split_sentences(hit.chunk["text"]))
    ]
    sentences = [s for _, _, s in candidates]
    vectors = embedder.embed([question, *sentences])
    similarity = vectors[1:] @ vectors[0]
    asked = set(tokenize(question))
    scored = []
    for (rank, i, sentence), sim in zip(candidates, similarity, strict=True):
        overlap = len(asked & set(tokenize(sentence))) / (len(asked) or 1)
        scored.append((float(sim) + overlap - 0.05 * rank, rank, i, sentence))
    best = sorted(sorted(scored, reverse=True)[:limit], key=lambda t: (t[1], t[2]))
    cite = [numbers[hit.chunk["source"]] for hit in hits]
    return EXTRACTIVE_LABEL + "\n" + " ".join(f"{s} [{cite[rank]}]" for _, rank, _, s in best)


def _history_messages(history: list[str]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    used = 0
    for item in reversed(history):
        used += len(item)
        if used > HISTORY_BUDGET_CHARS:
            break
        role, _, text = item.partition(": ")
        if role == "Human":
            messages.insert(0, {"role": "user", "content": text})
        elif role == "Bot":
            messages.insert(0, {"role": "assistant", "content": text})
        else:
            messages.insert(0, {"role": "user", "content": item})
    return messages


def llm_answer(
    question: str, hits: list[Hit], numbers: dict[str, int], history: list[str], prompt: str | None, settings: Settings
) -> str:

    from cdgpt.clients import openai_errors, openai_for_request

    context = "\n\n".join(
        f"[{numbers[h.chunk['source']]}] {h.chunk['title']} ({h.chunk['source']})\n{h.chunk['text']}" for h in hits
    )
    messages: list[Any] = [
        {"role": "system", "content": prompt or DEFAULT_PROMPT},
        *_history_messages(history),
        {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
    ]
    with openai_errors("the language model"):
        response = openai_for_request().chat.completions.create(
            model=settings.chat_model, messages=messages, temperature=0.2
        )
    answer = (response.choices[0].message.content or "").strip() if response.choices else ""
    if not answer:
        raise UpstreamError("language model returned an empty answer")
    return answer


def _snippet(text: str) -> str:
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


def chat(
    model_name: str,
    question: str,
    history: list[str] | None = None,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
) -> dict:
    settings = settings or get_settings()
    question = check_question(question)
    history = check_history(history)
    model = load_model(model_name, store or default_store(settings), settings)
    results = retrieve(model, question, settings.top_k, settings)  # what `cdgpt eval` measures
    relevant, documents = results.chunks, results.documents  # both empty when not covered
    numbers = {h.chunk["source"]: n for n, h in enumerate(documents, start=1)}  # [n] cites sources[n-1]
    if not relevant:
        answer = NOT_COVERED
    elif settings.answer_mode == "llm":
        answer = llm_answer(question, relevant, numbers, history, model.manifest.prompt, settings)
    else:
        answer = extractive_answer(question, relevant, numbers, model.embedder)
    return {
        "answer": answer,
        "history": [*history, f"Human: {question}", f"Bot: {answer}"],
        "sources": [
            {
                "source": h.chunk["source"],
                "title": h.chunk["title"],
                "score": round(h.score, 4),
                "snippet": _snippet(h.chunk["text"]),
            }
            for h in documents
        ],
        "model_version": model.manifest.version,
        "answer_mode": settings.answer_mode if relevant else "none",
    }
