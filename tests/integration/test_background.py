"""The background: how close questions that no document answers come to a model's chunks, measured when a
version is published, and the cosine floor it sets for an embedder the relevance rules were not tuned on."""

from __future__ import annotations

import numpy as np
import pytest

from cdgpt.answer.relevance import BACKGROUND_SPREADS, MIN_SIMILARITY, Evidence, covers, floor
from cdgpt.answer.retrieval import lexical_weight, load_model, retrieve, search
from cdgpt.clients import reset_clients
from cdgpt.index.background import probe_language
from cdgpt.index.embeddings import make_embedder
from cdgpt.index.probes import PROBES
from cdgpt.models.registry import Background, read_manifest
from cdgpt.models.store import LocalStore, default_store
from cdgpt.settings import Settings, get_settings
from tests.support import REPO
from tests.support.fixtures_openai import openai_stub  # noqa: F401
from tests.support.training import trained

UNRELATED = "What is the capital of Australia?"
ANSWERED = "How much does the company contribute to the pension?"


def test_a_trained_version_holds_the_best_cosines_of_the_probe_questions_per_language(tmp_path):
    settings = Settings(CDGPT_SOURCE_ROOT=REPO, CDGPT_EMBEDDINGS="local", CDGPT_DATA_DIR=tmp_path)
    store = LocalStore(settings.data_dir)
    trained("handbook", ["samples/handbook"], settings=settings, store=store, embedder=make_embedder(settings, "local"))
    model = load_model("handbook", store, settings)
    assert set(model.manifest.background) == set(PROBES) == {"en", "zh"}
    for language, questions in PROBES.items():
        best = [float(model.vector_index.all_cosines(v).max()) for v in model.embedder.embed(list(questions))]
        stored = model.manifest.background[language]
        assert stored.median == pytest.approx(np.median(best), abs=1e-4)
        assert stored.p90 == pytest.approx(np.quantile(best, 0.9), abs=1e-4)
        assert 0 < stored.median <= stored.p90 < MIN_SIMILARITY["local"]  # everyday questions lie far from it


def test_another_embedder_needs_a_cosine_above_the_models_background(openai_stub, monkeypatch):
    # Given the handbook trained with the stub's bag-of-words vectors (near for any texts sharing words)
    monkeypatch.delenv("CDGPT_MIN_SCORE")
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(REPO))
    reset_clients()
    trained("handbook", ["samples/handbook"])
    settings, store = get_settings(), default_store(get_settings())
    model = load_model("handbook", store, settings)
    background = read_manifest(store, "handbook")[0].background["en"]
    needed = background.median + BACKGROUND_SPREADS * (background.p90 - background.median)
    assert needed > MIN_SIMILARITY["openai"]
    # Then a question no page answers, which OpenAI's fixed floor would let through, is not covered
    unrelated = search(model, UNRELATED, 4, lexical_weight(model, settings)).evidence.similarity
    assert MIN_SIMILARITY["openai"] < unrelated < needed
    assert not retrieve(model, UNRELATED, 4, settings).covered
    # while one the pages answer is
    assert search(model, ANSWERED, 4, lexical_weight(model, settings)).evidence.similarity >= needed
    assert retrieve(model, ANSWERED, 4, settings).covered
    # and CDGPT_MIN_SCORE, when set, is the floor whatever the background
    monkeypatch.setenv("CDGPT_MIN_SCORE", str(MIN_SIMILARITY["openai"]))
    reset_clients()
    assert retrieve(model, UNRELATED, 4, get_settings()).covered


HIGH = Background(median=0.4, p90=0.5)


@pytest.mark.parametrize(
    ("provider", "background", "expected"),
    [
        ("openai", HIGH, 0.4 + BACKGROUND_SPREADS * 0.1),  # the background's floor, above OpenAI's
        ("openai", Background(median=0.05, p90=0.1), MIN_SIMILARITY["openai"]),  # never below OpenAI's
        ("openai", None, MIN_SIMILARITY["openai"]),  # a version published before backgrounds were measured
        ("local", HIGH, MIN_SIMILARITY["local"]),  # the local embedder's floor was set on the evaluation sets
    ],
)
def test_the_cosine_floor(provider, background, expected):
    evidence = Evidence(similarity=0.5, known=1.0, background=background)
    assert floor(evidence, provider) == pytest.approx(expected)
    assert covers(evidence, provider) == (expected <= 0.5)


@pytest.mark.parametrize(
    ("text", "language"),
    [("How many days of leave?", "en"), ("年假有几天？", "zh"), ("VPN 怎么连接？", "zh"), ("Wie viele Tage?", "en")],
)
def test_a_question_is_compared_with_the_probes_of_its_script(text, language):
    assert probe_language(text) == language
