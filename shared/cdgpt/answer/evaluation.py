"""Evaluation: what chat returns for questions with a known answer page, and for questions it cannot answer.

Each question goes through what chat answers from, with chat's settings (`search_query` with the
case's history, then `retrieve`): the documents measured are exactly the sources chat lists. A
question whose expected source is null is off-topic: chat should answer that the documents do not
cover it. A case may carry the conversation before it ("history"), as a follow-up question does, and the facts
its answer must quote ("expected_facts"): the extractive answer chat gives is checked for each.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cdgpt.answer.answering import check_history, check_question, extractive_answer, source_numbers
from cdgpt.answer.queries import search_query
from cdgpt.answer.retrieval import load_model, retrieve
from cdgpt.errors import InvalidRequest
from cdgpt.models.store import ArtifactStore, default_store
from cdgpt.settings import Settings, get_settings

MAX_FILE_BYTES = 64 * 2**20  # a questions file: tens of thousands of questions fit

Split = Literal["dev", "test"]
MAX_K = 50  # as CDGPT_TOP_K


@dataclass(frozen=True)
class Case:
    question: str
    expected_source: str | None  # None: off-topic, the documents do not answer it
    history: tuple[str, ...] = ()  # the conversation before the question ("Human: ...", "Bot: ...")
    facts: tuple[str, ...] = ()  # short passages of the page that the extractive answer must quote


def split_of(question: str) -> Split:
    """A question's half, fixed by a hash of its text as chat reads it (stripped): tune on "dev", report "test"."""
    return "dev" if hashlib.sha256(question.strip().encode("utf-8")).digest()[0] < 128 else "test"


def load_files(paths: list[Path], split: Split | None = None) -> list[Case]:
    """The cases of every file, of one split or all; a file may hold none of a split, not every file."""
    cases = [case for path in paths for case in load_cases(path, split, each=False)]
    if split is not None and not cases:
        raise InvalidRequest(f"no questions in the {split} split of {', '.join(map(str, paths))}")
    return cases


def load_cases(path: Path, split: Split | None = None, *, each: bool = True) -> list[Case]:
    """JSON lines of {"question", "expected_source"} (null for an off-topic question), and optionally
    "history" (a list of "Human: ..." and "Bot: ..." strings) and "expected_facts" (a list of strings),
    of one split or all (`each`: the file must hold some of it). Questions are checked as chat checks them."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidRequest(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB")
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is no part of the first line
    except FileNotFoundError as exc:
        raise InvalidRequest(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(
            f"{path}: cannot read it as UTF-8 text ({getattr(exc, 'strerror', None) or type(exc).__name__})"
        ) from exc
    cases = []
    for number, line in enumerate(text.split("\n"), start=1):  # U+2028 and the like may sit inside a JSON string
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            question, expected = item["question"], item["expected_source"]
            if not isinstance(question, str) or not (expected is None or isinstance(expected, str)):
                raise TypeError("question and expected_source must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidRequest(f'{path}:{number}: expected {{"question", "expected_source"}}') from exc
        facts = item.get("expected_facts", [])
        if not isinstance(facts, list) or not all(isinstance(fact, str) and fact.strip() for fact in facts):
            raise InvalidRequest(f"{path}:{number}: expected_facts must be a list of non-empty strings")
        try:
            question, history = check_question(question), check_history(item.get("history"))
        except InvalidRequest as exc:
            raise InvalidRequest(f"{path}:{number}: {exc}") from exc
        if split is None or split_of(question) == split:
            cases.append(Case(question, expected, tuple(history), tuple(facts)))
    if not cases and (each or split is None):
        raise InvalidRequest(f"{path}: no questions" + (f" in the {split} split" if split else ""))
    return cases


def matches(source: str, expected: str) -> bool:
    """The expected source, exactly or as the trailing part of a path or URL."""
    expected, source = expected.strip("/"), source.rstrip("/")  # "https://site/docs/" is itself
    return bool(expected) and (source == expected or source.endswith("/" + expected))


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def quoted(answer: str, fact: str) -> bool:
    """The fact is in the answer, ignoring case and how whitespace runs."""
    return _folded(fact) in _folded(answer)


def _rate(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def evaluate(
    model_name: str,
    cases: list[Case],
    k: int | None = None,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
) -> dict:
    """Recall at 1 and k and MRR over the k sources chat lists (k: chat's CDGPT_TOP_K unless given),
    the share of answerable questions refused as not covered, and of off-topic ones rightly refused;
    for questions with expected facts, the share whose extractive answer quotes them all."""
    settings = settings or get_settings()
    k = settings.top_k if k is None else k
    if not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be between 1 and {MAX_K}")
    model = load_model(model_name, store or default_store(settings), settings)
    answerable = [c for c in cases if c.expected_source is not None]
    first = in_top_k = refused = not_covered = 0
    reciprocal = 0.0
    misses, answers, fact_misses = [], [], []
    with_facts = all_quoted = 0
    for case in cases:
        query = search_query(case.question, list(case.history), model, settings)
        results = retrieve(model, query, k, settings)
        ranked = [h.chunk["source"] for h in results.documents]
        answers.append({"question": case.question, "expected": case.expected_source, "sources": ranked})
        if case.expected_source is None:
            not_covered += not results.covered
            continue
        if case.facts:  # the answer chat gives: from its own k sources, whatever k is measured here
            answered = results if k == settings.top_k else retrieve(model, query, settings.top_k, settings)
            numbers = source_numbers(answered.documents)
            answer = extractive_answer(query.question, answered.chunks, numbers, model) if answered.covered else ""
            missing = [fact for fact in case.facts if not quoted(answer, fact)]
            with_facts += 1
            all_quoted += not missing
            if missing:
                fact_misses.append({"question": case.question, "missing": missing, "answer": answer})
        refused += not results.covered
        rank = next((i for i, source in enumerate(ranked, start=1) if matches(source, case.expected_source)), None)
        first += rank == 1
        in_top_k += rank is not None
        reciprocal += 1 / rank if rank else 0.0
        if rank != 1:
            misses.append(
                {
                    "question": case.question,
                    "expected": case.expected_source,
                    "rank": rank,
                    "got": ranked,
                    "not_covered": not results.covered,
                }
            )
    n, off_topic = len(answerable), len(cases) - len(answerable)
    return {
        "model_name": model_name,
        "questions": n,
        "k": k,
        "recall_at_1": _rate(first, n),
        "recall_at_k": _rate(in_top_k, n),
        "mrr": round(reciprocal / n, 4) if n else None,
        "wrongly_refused": _rate(refused, n),
        "off_topic_questions": off_topic,
        "not_covered": _rate(not_covered, off_topic),
        "questions_with_facts": with_facts,
        "facts_quoted": _rate(all_quoted, with_facts),  # answers quoting every expected fact
        "misses": misses,
        "fact_misses": fact_misses,
        "answers": answers,  # per question, the sources chat lists (none when not covered)
    }
