"""Relevance: whether a model's documents cover a question at all ("not covered" otherwise).

Cosine alone cannot tell: the local embedder's Chinese vectors are weak (its tokenizer lacks many Han
characters), so an off-topic Chinese question scores about as high as an answerable one. With the
local embedder the question must also find its own terms in the model: a share of its evidence (its
terms without question phrases, weighted by IDF, a term the model lacks weighing most). The values
were set on the development halves of the evaluation sets and their off-topic questions
(benchmarks/eval/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdgpt.index.lexical import LexicalIndex
from cdgpt.index.terms import CJK, tokenize

MIN_SIMILARITY: dict[str, float] = {"local": 0.27, "openai": 0.2}  # the best cosine below which nothing is relevant
LOCAL_CJK_SIMILARITY = 0.6  # the same for a mostly Chinese or Japanese question, local embedder
MIN_KNOWN = 0.2  # share of the question's evidence the model holds (local embedder)
_CJK_CHAR = re.compile(f"[{CJK}]")
_WORD_CHAR = re.compile(r"\w")


@dataclass(frozen=True)
class Evidence:
    similarity: float  # the best cosine of the question and any chunk
    known: float  # share of the question's IDF-weighted terms that the model holds, 0..1


def mostly_cjk(question: str) -> bool:
    letters = len(_WORD_CHAR.findall(question))
    return letters > 0 and 2 * len(_CJK_CHAR.findall(question)) > letters


def covers(evidence: Evidence, question: str, provider: str, min_score: float | None = None) -> bool:
    """min_score (CDGPT_MIN_SCORE), when set, replaces the cosine floor."""
    if provider != "local":
        return evidence.similarity >= (MIN_SIMILARITY[provider] if min_score is None else min_score)
    floor = (
        min_score
        if min_score is not None
        else LOCAL_CJK_SIMILARITY
        if mostly_cjk(question)
        else MIN_SIMILARITY[provider]
    )
    return evidence.similarity >= floor and evidence.known >= MIN_KNOWN


def follows_up(lexical: LexicalIndex, question: str, passages: list[int]) -> bool:
    """Whether a follow-up, searched together with the question before it, is about what was found.

    Its own terms must make MIN_KNOWN of its evidence in the model, and one of them must be in the
    passages found (chunk ids), unless it has a single term or none ("How fast?", "下午呢？"): such a
    question cannot stand alone at all. Otherwise any short off-topic question ("And is it going to
    rain tomorrow?") asked after an answered one would count as covered.
    """
    terms = list(dict.fromkeys(tokenize(question, question=True)))
    if len(terms) <= 1:
        return True
    return lexical.coverage(terms) >= MIN_KNOWN and lexical.holds_any(terms, passages)
