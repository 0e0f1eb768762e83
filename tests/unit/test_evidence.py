"""A question's evidence (`retrieval._evidence`) against a real lexical index: the shares of its terms, its codes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cdgpt.answer.retrieval import _evidence
from cdgpt.index.lexical import LexicalIndex


@dataclass
class Manifest:
    background: dict = field(default_factory=dict)


@dataclass
class Model:
    """What `_evidence` reads of a loaded model: its lexical index and its manifest's background."""

    lexical: LexicalIndex
    manifest: Manifest = field(default_factory=Manifest)


def evidence_of(pages: list[str], question: str, first: list[int]):
    return _evidence(Model(LexicalIndex.build(pages)), question, np.full(len(pages), 0.4), first)


def test_a_chinese_questions_least_share_leaves_out_the_edge_bigrams_the_model_lacks():
    """ "生病请了两天假，需要去医院开证明吗？" of a leave policy: its words are the policy's, but bigrams such as 病请,
    去医 and 院开 are no model's, and weighed as missing they held its share under MIN_KNOWN."""
    evidence = evidence_of(
        ["病假需要医院开具的证明。生病请假两天以上需提交。"], "生病请了两天假，需要去医院开证明吗？", [0]
    )
    assert evidence.known_words is not None and evidence.known_words > evidence.known
    assert evidence_of(["Doctors' notes."], "Do I need a doctor's note?", [0]).known_words is None  # no Chinese


def test_a_question_of_edge_bigrams_alone_keeps_its_one_share():
    """English pages: the question's Chinese bigrams, all across a word's edge, could never be found."""
    evidence = evidence_of(["Brain fees are not refunded."], "用脑费用吗", [0])
    assert evidence.known == 1.0 and evidence.known_words is None


def test_a_code_is_coded_when_few_chunks_hold_it_and_the_first_ranked_does():
    pages = ["E1003: the badge was not read; try again.", "E1004: no network.", "Badges."]
    assert evidence_of(pages, "E1003", [0]).coded
    assert not evidence_of(pages, "E1003", [1]).coded  # not the chunk ranked first
    assert not evidence_of(pages, "E2005", [0]).coded  # no chunk holds it
    assert not evidence_of(pages, "badge 2025", [0]).coded  # no letters and digits
    units = ["The 25th floor has 1tb drives and 5g.", "Other.", "More."]
    assert not any(evidence_of(units, q, [0]).coded for q in ("On the 25th?", "Is 1tb enough?", "5g"))  # values
