"""Evaluation: how often retrieval ranks the expected document first, or in the top k."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cdgpt.answer.retrieval import load_model, search
from cdgpt.errors import InvalidRequest
from cdgpt.models.store import ArtifactStore, default_store
from cdgpt.settings import Settings, get_settings

RANKS_SCORED = 10  # MRR counts a hit down to this rank


@dataclass(frozen=True)
class Case:
    question: str
    expected_source: str


def load_cases(path: Path) -> list[Case]:
    """JSON lines of {"question", "expected_source"}; lines whose expected source is null are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(
            f"{path}: cannot read it as UTF-8 text ({getattr(exc, 'strerror', None) or type(exc).__name__})"
        ) from exc
    cases = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            question, expected = item["question"], item["expected_source"]
            if not isinstance(question, str) or not (expected is None or isinstance(expected, str)):
                raise TypeError("question and expected_source must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidRequest(f'{path}:{number}: expected {{"question", "expected_source"}}') from exc
        if expected is not None:
            cases.append(Case(str(question), str(expected)))
    if not cases:
        raise InvalidRequest(f"{path}: no questions with an expected source")
    return cases


def matches(source: str, expected: str) -> bool:
    """The expected source, exactly or as the trailing part of a path or URL."""
    expected, source = expected.strip("/"), source.rstrip("/")  # "https://site/docs/" is itself
    return bool(expected) and (source == expected or source.endswith("/" + expected))


def evaluate(
    model_name: str,
    cases: list[Case],
    k: int = 4,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
) -> dict:
    settings = settings or get_settings()
    model = load_model(model_name, store or default_store(settings), settings)
    first = in_top_k = 0
    reciprocal = 0.0
    misses = []
    for case in cases:
        ranked = [
            h.chunk["source"]
            for h in search(model, case.question, max(k, RANKS_SCORED), settings.lexical_weight).documents
        ]
        rank = next((i for i, source in enumerate(ranked, start=1) if matches(source, case.expected_source)), None)
        first += rank == 1
        in_top_k += rank is not None and rank <= k
        reciprocal += 1 / rank if rank else 0.0
        if rank != 1:
            misses.append(
                {"question": case.question, "expected": case.expected_source, "rank": rank, "got": ranked[:3]}
            )
    n = len(cases)
    return {
        "model_name": model_name,
        "questions": n,
        "k": k,
        "recall_at_1": round(first / n, 4),
        "recall_at_k": round(in_top_k / n, 4),
        "mrr": round(reciprocal / n, 4),
        "misses": misses,
    }
