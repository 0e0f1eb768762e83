"""Hybrid retrieval: fusing cosine and BM25, and ranking distinct documents, on small models trained here."""

from __future__ import annotations

import numpy as np
import pytest

from cdgpt.answer import retrieval
from cdgpt.clients import reset_clients
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings
from cdgpt.training.pipeline import train

DOCS = {
    "catalogue.md": "# Spare parts\n\nPart XK-4471 is the replacement hinge for the grey storage cabinets on the second floor.\n",
    "vpn.md": (
        "# VPN troubleshooting\n\nIf your laptop cannot connect to the VPN, restart the client, "
        "check your Wi-Fi and sign in again with MFA.\n"
    ),
    "newsletter.md": "# Intranet newsletter\n\nThe intranet newsletter lists birthdays, retirements and the cake rota for each team.\n",
    "leave.md": "# Annual leave\n\nFull-time employees get 25 days of paid annual leave per year. Request leave in the HR portal.\n",
    "expenses.md": "# Travel expenses\n\nHotels in London are reimbursed up to 180 pounds per night. Claim mileage at 45p per mile.\n",
    "canteen.md": "# Canteen\n\nThe canteen serves hot lunch from noon until two o'clock every weekday.\n",
}

VPN_GUIDE = """# VPN guide

## Installing the client

Install the VPN client from the software centre on your laptop before you travel.

## Connecting

Open the VPN client, choose the nearest gateway and connect with your company account.

## Multi-factor sign-in

Approve the MFA prompt on your phone each time the VPN connects.

## When the VPN drops

If the VPN connection drops, reconnect the client and check your Wi-Fi signal.
"""

# Its words are in no document, so BM25 gives every chunk zero.
UNMATCHED = "wireless internet trouble at home"
# The vectors prefer vpn.md; the one shared word ("intranet") makes BM25 prefer newsletter.md.
SPLIT = "remote access to the intranet fails from my flat"


@pytest.fixture
def make_model(tmp_path, monkeypatch):
    """Train documents {name: text} written under tmp_path (the source root) and load the model."""

    def make(docs: dict[str, str], name: str = "fusion") -> retrieval.LoadedModel:
        for file, text in docs.items():
            (tmp_path / file).write_text(text, encoding="utf-8")
        monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(tmp_path))
        reset_clients()
        train(name, sorted(docs))
        settings = get_settings()
        return retrieval.load_model(name, default_store(settings), settings)

    return make


def chunk_id(model: retrieval.LoadedModel, hit: retrieval.Hit) -> int:
    return next(i for i, chunk in enumerate(model.chunks) if chunk is hit.chunk)


def sources(hits: list[retrieval.Hit]) -> list[str]:
    return [hit.chunk["source"] for hit in hits]


def cosines(model: retrieval.LoadedModel, question: str) -> np.ndarray:
    """Cosine of the question and every chunk, computed apart from `search`."""
    query = model.embedder.embed([question])[0]
    return model.index.reconstruct_n(0, model.index.ntotal) @ query


def test_the_split_query_really_splits_the_two_rankings(make_model):
    model = make_model(DOCS)
    assert len(model.chunks) == len(DOCS)  # one chunk per document
    assert model.chunks[int(np.argmax(cosines(model, SPLIT)))]["source"] == "vpn.md"
    assert model.chunks[int(np.argmax(model.lexical.scores(SPLIT)))]["source"] == "newsletter.md"


def test_pure_lexical_weight_follows_bm25(make_model):
    model = make_model(DOCS)
    results = retrieval.search(model, SPLIT, 3, lexical_weight=1.0)
    assert sources(results.documents)[0] == "newsletter.md"
    assert results.documents[0].score == pytest.approx(1.0)

    question = "Which error code is XK-4471?"
    bm25 = model.lexical.scores(question)
    results = retrieval.search(model, question, len(DOCS), lexical_weight=1.0)
    assert sources(results.documents)[0] == "catalogue.md"
    ranked = [bm25[chunk_id(model, hit)] for hit in results.chunks]
    assert ranked == sorted(ranked, reverse=True) and ranked[0] > 0
    assert [hit.score for hit in results.chunks] == pytest.approx([s / bm25.max() for s in ranked])


def test_pure_vector_weight_follows_the_cosine(make_model):
    model = make_model(DOCS)
    cosine = cosines(model, SPLIT)
    results = retrieval.search(model, SPLIT, len(DOCS), lexical_weight=0.0)
    assert sources(results.documents)[0] == "vpn.md"
    assert [chunk_id(model, hit) for hit in results.chunks] == np.argsort(-cosine, kind="stable").tolist()
    assert [hit.similarity for hit in results.chunks] == pytest.approx(sorted(cosine, reverse=True), abs=1e-5)
    assert results.chunks[0].score == pytest.approx(1.0) and results.chunks[-1].score == pytest.approx(0.0)


def test_the_default_blend_lets_an_exact_code_win(make_model):
    model = make_model(DOCS)
    results = retrieval.search(model, "What is XK-4471?", 2, lexical_weight=retrieval.LEXICAL_WEIGHT["local"])
    assert sources(results.documents)[0] == "catalogue.md"
    assert 0 <= results.documents[-1].score <= results.documents[0].score <= 1


@pytest.mark.parametrize("weight", [0.0, 0.6, 1.0])
def test_a_query_without_lexical_matches_still_gets_vector_results(make_model, weight):
    model = make_model(DOCS)
    assert not model.lexical.scores(UNMATCHED).any()
    cosine = cosines(model, UNMATCHED)
    results = retrieval.search(model, UNMATCHED, 3, lexical_weight=weight)
    assert len(results.chunks) == len(results.documents) == 3
    assert [chunk_id(model, hit) for hit in results.chunks] == np.argsort(-cosine)[:3].tolist()
    assert sources(results.documents)[0] == "vpn.md"


def test_documents_are_distinct_and_carry_their_best_chunk(make_model):
    model = make_model({**DOCS, "vpn-guide.md": VPN_GUIDE})
    guide_chunks = [c for c in model.chunks if c["source"] == "vpn-guide.md"]
    assert len(guide_chunks) == 4  # one per section
    question = "How do I connect my laptop to the VPN?"
    everything = retrieval.search(model, question, len(model.chunks), lexical_weight=0.6)
    assert len(everything.chunks) == len(model.chunks)
    score = {chunk_id(model, hit): hit.score for hit in everything.chunks}

    results = retrieval.search(model, question, 3, lexical_weight=0.6)
    assert len(set(sources(results.documents))) == len(results.documents) == 3
    assert sources(results.chunks).count("vpn-guide.md") >= 2  # context may hold several chunks of one document
    for document in results.documents:
        own = [i for i, c in enumerate(model.chunks) if c["source"] == document.chunk["source"]]
        best = max(own, key=score.__getitem__)
        assert chunk_id(model, document) == best
        assert document.score == pytest.approx(score[best])
    assert results.documents[0].chunk is results.chunks[0].chunk
    # The documents are the best distinct sources of the full ranking, in its order.
    first_seen = list(dict.fromkeys(sources(everything.chunks)))
    assert sources(results.documents) == first_seen[:3]
    assert [h.score for h in results.documents] == sorted((h.score for h in results.documents), reverse=True)


def test_k_bounds_both_lists(make_model):
    model = make_model({**DOCS, "vpn-guide.md": VPN_GUIDE})
    n_chunks, n_docs = len(model.chunks), len(DOCS) + 1
    assert n_chunks == n_docs + 3
    for k in range(1, n_chunks + 3):
        results = retrieval.search(model, "How do I connect to the VPN?", k, lexical_weight=0.6)
        assert len(results.chunks) == min(k, n_chunks), k
        assert len(results.documents) == min(k, n_docs), k
        assert len({chunk_id(model, hit) for hit in results.chunks}) == len(results.chunks)
        scores = [hit.score for hit in results.chunks]
        assert scores == sorted(scores, reverse=True)


def test_exactly_k_documents_when_one_has_many_chunks(make_model):
    model = make_model({**DOCS, "vpn-guide.md": VPN_GUIDE})
    results = retrieval.search(model, "VPN client connection", 4, lexical_weight=0.6)
    assert len(model.chunks) > 4 and len(results.documents) == 4
    assert sources(results.chunks).count("vpn-guide.md") >= 2


def test_exactly_k_documents_when_one_document_fills_the_candidate_pool(make_model):
    """More chunks of one document than the candidate pool (64 for k=4) must not crowd the others out."""
    sections = "\n\n".join(
        f"## VPN step {i}\n\nConnect the VPN client number {i} to the office network before you open the intranet."
        for i in range(100)
    )
    model = make_model({**DOCS, "vpn-manual.md": f"# VPN manual\n\n{sections}\n"})
    assert sum(c["source"] == "vpn-manual.md" for c in model.chunks) == 100
    question = "How do I connect the VPN client to the office network?"
    results = retrieval.search(model, question, 4, lexical_weight=0.6)
    assert sources(results.documents)[0] == "vpn-manual.md"
    assert len(set(sources(results.documents))) == len(results.documents) == 4
    assert len(results.chunks) == 4
    ten = retrieval.search(model, question, 10, lexical_weight=0.6)
    assert len(ten.documents) == len(DOCS) + 1  # every document, fewer than k


def test_a_model_with_fewer_documents_than_k(make_model):
    model = make_model({"vpn-guide.md": VPN_GUIDE})
    results = retrieval.search(model, "VPN", 10, lexical_weight=0.6)
    assert len(results.chunks) == 4 and sources(results.documents) == ["vpn-guide.md"]


def test_a_question_with_two_letters_swapped_finds_what_it_would_typed_right(make_model):
    from cdgpt.answer.queries import search_query

    model = make_model(DOCS)
    settings = get_settings()

    def asked(question: str) -> retrieval.Results:
        return retrieval.retrieve(model, search_query(question, [], model, settings), 4, settings)

    typed_right = asked("How much are Hotels in London reimbursed a night?")
    slipped = asked("How much are Hotesl in London reimbursed a night?")
    assert (
        search_query("How much are Hotesl in London?", [], model, settings).question == "How much are Hotels in London?"
    )
    assert slipped.covered and sources(slipped.documents) == sources(typed_right.documents)
    assert sources(slipped.documents)[0] == "expenses.md"
    assert slipped.evidence == typed_right.evidence
