"""The relevance decision: the best cosine, and for the local embedder the question's own terms too."""

from __future__ import annotations

from dataclasses import replace

from cdgpt.answer.relevance import (
    CODE_SIMILARITY,
    HALF_KNOWN,
    HALF_KNOWN_SIMILARITY,
    HELD,
    HELD_KNOWN,
    MIN_KNOWN,
    MIN_SIMILARITY,
    NAME_SIMILARITY,
    SURE_SIMILARITY,
    Evidence,
    covers,
)


def test_openai_embeddings_decide_by_cosine_alone():
    assert covers(Evidence(MIN_SIMILARITY["openai"], 0.0), "openai")
    assert not covers(Evidence(MIN_SIMILARITY["openai"] - 0.01, 1.0), "openai")
    assert covers(Evidence(0.1, 0.0), "openai", min_score=0.1)


def test_local_embedder_needs_the_cosine_and_the_questions_own_terms():
    floor = MIN_SIMILARITY["local"]
    assert covers(Evidence(floor, HALF_KNOWN), "local")
    assert not covers(Evidence(floor - 0.01, 1.0), "local")
    assert not covers(Evidence(SURE_SIMILARITY - 0.01, MIN_KNOWN - 0.01), "local")
    assert covers(Evidence(0.1, HALF_KNOWN), "local", min_score=0.1)  # CDGPT_MIN_SCORE replaces the floor
    assert not covers(Evidence(0.4, MIN_KNOWN - 0.01), "local", min_score=0.1)  # but not the terms' share


def test_a_question_the_model_holds_less_than_half_of_needs_a_higher_cosine():
    """ "企业微信怎么创建一个外部群？": the model holds 创建 and 外部, not 微信 (the IDF-weighted share 0.36)."""
    assert not covers(Evidence(HALF_KNOWN_SIMILARITY - 0.01, HALF_KNOWN - 0.01), "local")
    assert covers(Evidence(HALF_KNOWN_SIMILARITY, MIN_KNOWN), "local")
    assert covers(Evidence(MIN_SIMILARITY["local"], HALF_KNOWN), "local")


def test_the_least_share_a_chinese_question_needs_is_of_its_words():
    """Bigrams across a word's edge that the model lacks (`known_words`) count against no question's least share;
    the half a question under HALF_KNOWN_SIMILARITY needs is still of all its bigrams."""
    assert not covers(Evidence(HALF_KNOWN_SIMILARITY, MIN_KNOWN - 0.01), "local")
    assert covers(Evidence(HALF_KNOWN_SIMILARITY, MIN_KNOWN - 0.01, known_words=MIN_KNOWN), "local")
    assert not covers(Evidence(HALF_KNOWN_SIMILARITY - 0.01, HALF_KNOWN - 0.01, known_words=1.0), "local")


def test_a_code_the_first_chunk_holds_covers_its_question_from_a_low_cosine():
    """ "E1003" alone scored 0.256 against the row of the error-code table that explains it."""
    assert covers(Evidence(CODE_SIMILARITY, 0.0, coded=True), "local")
    assert not covers(Evidence(CODE_SIMILARITY - 0.01, 1.0, coded=True), "local")
    assert not covers(Evidence(CODE_SIMILARITY, 1.0, coded=True, lacks_name=True), "local")
    assert not covers(Evidence(CODE_SIMILARITY, 1.0, coded=True), "local", min_score=0.26)  # CDGPT_MIN_SCORE rules


def test_a_cosine_no_off_topic_question_reaches_covers_without_the_terms():
    assert covers(Evidence(SURE_SIMILARITY, 0.0), "local")
    assert not covers(Evidence(SURE_SIMILARITY, 0.0), "local", min_score=SURE_SIMILARITY + 0.01)


def test_a_name_the_model_lacks_needs_a_higher_cosine():
    floor = MIN_SIMILARITY["local"]
    assert not covers(Evidence(NAME_SIMILARITY - 0.01, 1.0, lacks_name=True, name_not_found=True), "local")
    assert not covers(Evidence(floor, MIN_KNOWN, lacks_name=True, name_not_found=True), "local")
    assert covers(Evidence(NAME_SIMILARITY, 0.5, lacks_name=True, name_not_found=True), "local")
    assert covers(Evidence(MIN_SIMILARITY["openai"], 0.0, lacks_name=True), "openai")  # OpenAI's: the cosine alone


def test_a_name_the_first_chunks_lack_needs_the_sure_cosine():
    assert not covers(Evidence(SURE_SIMILARITY - 0.01, 1.0, name_not_found=True), "local")
    assert covers(Evidence(SURE_SIMILARITY, 0.5, name_not_found=True), "local")
    assert SURE_SIMILARITY < NAME_SIMILARITY


def test_a_keyword_search_the_headings_hold_needs_no_cosine():
    assert covers(Evidence(0.1, 1.0, headed=True), "local")
    assert not covers(Evidence(0.05, 1.0, headed=True), "openai")  # another embedder's cosine decides
    assert not covers(Evidence(0.1, 1.0, headed=True), "local", min_score=0.2)  # CDGPT_MIN_SCORE still holds


def test_under_the_floor_a_question_one_first_chunk_holds_is_covered():
    """A short entry of a long list ("Dental cover" in a benefits guide) lies far from its questions in the
    embedder's space; its terms, together in one chunk, are the evidence: the lower the cosine, the more."""
    (low, most), (higher, half) = HELD
    held = Evidence(low, HELD_KNOWN, held=most)
    assert covers(held, "local")
    assert not covers(replace(held, similarity=low - 0.01), "local")
    assert not covers(replace(held, held=most - 0.01), "local")  # the terms spread over several chunks
    assert covers(replace(held, similarity=higher, held=half), "local")
    assert not covers(replace(held, similarity=higher, held=half - 0.01), "local")
    assert not covers(replace(held, known=HELD_KNOWN - 0.01), "local")
    assert not covers(replace(held, lacks_name=True), "local")
    assert not covers(held, "local", min_score=MIN_SIMILARITY["local"])  # CDGPT_MIN_SCORE is a floor, whole
    assert not covers(held, "openai")
