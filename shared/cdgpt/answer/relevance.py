"""Relevance: whether a model's documents cover a question at all ("not covered" otherwise).

The best cosine must reach its embedder's floor. With a local embedder cosine alone cannot tell, and
the question must also find its own terms in the model: a share of its evidence (its terms without
question phrases, weighted by IDF, a term the model lacks weighing most). WordLlama's
Chinese vectors are weak (its tokenizer lacks many Han characters): an off-topic Chinese question
scores about as high as an answerable one, so a mostly Chinese question has a floor of its own. The
values were set on the development halves of the evaluation sets and their off-topic questions
(benchmarks/eval/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdgpt.index.embeddings import USE, WORDLLAMA
from cdgpt.index.lexical import CJK, LexicalIndex, tokenize

# The best cosine below which nothing is relevant: by provider, or for a local one by its model.
MIN_SIMILARITY: dict[str, float] = {"openai": 0.2, WORDLLAMA: 0.27, USE: 0.26}
CJK_SIMILARITY: dict[str, float] = {WORDLLAMA: 0.6}  # the same for a mostly Chinese or Japanese question
MIN_KNOWN = 0.2  # share of the question's evidence the model holds (local embedders)
_CJK_CHAR = re.compile(f"[{CJK}]")
_WORD_CHAR = re.compile(r"\w")


@dataclass(frozen=True)
class Evidence:
    similarity: float  # the best cosine of the question and any chunk
    known: float  # share of the question's IDF-weighted terms that the model holds, 0..1


def mostly_cjk(question: str) -> bool:
    letters = len(_WORD_CHAR.findall(question))
    return letters > 0 and 2 * len(_CJK_CHAR.findall(question)) > letters


def covers(evidence: Evidence, question: str, provider: str, model: str, min_score: float | None = None) -> bool:
    """min_score (CDGPT_MIN_SCORE), when set, replaces the cosine floor."""
    key = model if provider == "local" else provider
    floor = MIN_SIMILARITY[key]
    if key in CJK_SIMILARITY and mostly_cjk(question):
        floor = CJK_SIMILARITY[key]
    similar = evidence.similarity >= (floor if min_score is None else min_score)
    return similar and (provider != "local" or evidence.known >= MIN_KNOWN)


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
