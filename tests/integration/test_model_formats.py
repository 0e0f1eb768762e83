"""Model formats at any size: the index chosen by size, models from before the line docstore, and a
training streamed in batches giving the same artifacts as one batch; on a local folder and S3 (moto)."""

from __future__ import annotations

import json
import zlib

import faiss
import numpy as np
import pytest

from cdgpt.answer.answering import chat
from cdgpt.answer.retrieval import load_model
from cdgpt.clients import reset_clients
from cdgpt.ingest.chunking import Chunk
from cdgpt.models.registry import manifest_key, read_manifest
from cdgpt.settings import get_settings
from cdgpt.training.pipeline import train, write_artifacts
from cdgpt.training.reuse import NO_PREVIOUS
from tests.support.stores import sources, store  # noqa: F401

QUESTION = "How many days of annual leave do I get?"


class TextSeededEmbedder:
    """Each text's vector depends on that text alone: a BLAS kernel may round a batch of 3 and one of 50 apart
    in the last bit, and this test is about the writer, not the embedder."""

    provider, model, dim = "openai", "text-embedding-3-small", 16

    def embed(self, texts, progress=None):
        rows = [np.random.default_rng(zlib.crc32(text.encode())).random(self.dim) for text in texts]
        return np.asarray(rows, dtype=np.float32)


def stored_index(store, name: str = "m") -> faiss.Index:
    manifest, _ = read_manifest(store, name)
    data = store.get(f"models/{name}/{manifest.files['index']}")[0]
    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))


@pytest.mark.parametrize(("exact_max_mb", "kind"), [("32", faiss.IndexFlatIP), ("0", faiss.IndexHNSWSQ)])
def test_the_index_is_chosen_by_size_and_answers_alike(store, sources, monkeypatch, exact_max_mb, kind):
    # Given the threshold of an exact index set so that this small model is under it, or over it
    monkeypatch.setenv("CDGPT_EXACT_SEARCH_MAX_MB", exact_max_mb)
    reset_clients()
    # When it is trained, then the stored index is of the kind its size calls for
    train("m", sources, store=store)
    assert isinstance(stored_index(store), kind)
    # And chat finds the same document and the same cosine either way
    reply = chat("m", QUESTION, store=store)
    assert reply["sources"][0]["source"] == "docs/leave.md"
    model = load_model("m", store, get_settings())
    query = model.embedder.embed([QUESTION])[0]
    ids, cosines = model.vector_index.search(query, 3)
    assert model.chunks.source(ids[0]) == "docs/leave.md"
    assert np.allclose(model.vector_index.cosines(query, ids), cosines, atol=1e-3)
    # And retraining an unchanged HNSW or exact model reuses every vector
    assert train("m", sources, store=store).chunks_embedded == 0


def as_legacy(store, name: str = "m") -> None:
    """Rewrite the current version as a model trained before the line docstore (docstore.json, no offsets)."""
    manifest, _ = read_manifest(store, name)
    lines = store.get(f"models/{name}/{manifest.files['docstore']}")[0].decode().splitlines()
    legacy = json.dumps({"format": 1, "chunks": [json.loads(line) for line in lines]}).encode()
    folder = manifest.files["docstore"].rsplit("/", 1)[0]
    store.put(f"models/{name}/{folder}/docstore.json", legacy)
    store.delete([f"models/{name}/{manifest.files[a]}" for a in ("docstore", "docstore_index")])
    files = {**manifest.files, "docstore": f"{folder}/docstore.json"}
    del files["docstore_index"]
    sizes = {a: s for a, s in manifest.sizes.items() if a != "docstore_index"} | {"docstore": len(legacy)}
    old = manifest.model_copy(update={"files": files, "sizes": sizes, "checksums": {}})
    store.put(manifest_key(name), old.model_dump_json().encode())


def test_a_model_from_before_the_line_docstore_loads_and_retrains(store, sources):
    # Given a model whose docstore is one JSON document
    train("m", sources, store=store)
    expected = chat("m", QUESTION, store=store)
    as_legacy(store)
    assert "docstore_index" not in read_manifest(store, "m")[0].files
    # When it is asked the same question, then it answers the same
    reply = chat("m", QUESTION, store=store)
    assert reply["sources"] == expected["sources"] and reply["answer"] == expected["answer"]
    model = load_model("m", store, get_settings())
    assert model.documents == 2 and len(model.chunks) == model.index.ntotal
    # And retraining keeps its vectors and writes the line docstore
    retrained = train("m", sources, store=store)
    assert retrained.chunks_embedded == 0
    assert read_manifest(store, "m")[0].files["docstore"].endswith("docstore.jsonl")


@pytest.mark.parametrize("exact_max_mb", [32, 0], ids=["exact", "hnsw"])
def test_a_training_streamed_in_batches_writes_what_one_batch_writes(tmp_path, exact_max_mb):
    # Given 50 chunks of 7 documents
    chunks = [
        Chunk(f"doc{i % 7}.md", f"Doc {i % 7}", ("Part", str(i)), i // 7, f"Paragraph {i} about topic {i % 5}. " * 3)
        for i in range(50)
    ]
    settings = get_settings().model_copy(update={"exact_search_max_mb": exact_max_mb})
    embedder = TextSeededEmbedder()
    # When they are written in batches of 3 and in one batch of 50
    built = {}
    for batch in (3, 50):
        folder = tmp_path / str(batch)
        folder.mkdir()
        built[batch] = write_artifacts(folder, chunks, embedder, NO_PREVIOUS, settings, batch=batch)
    # Then the docstore and the lexical index are the same bytes, and the index holds the same vectors
    few, one = built[3], built[50]
    for artifact in ("docstore", "docstore_index", "lexical"):
        assert few.files[artifact].read_bytes() == one.files[artifact].read_bytes(), artifact
    indexes = [faiss.read_index(str(b.files["index"])) for b in (few, one)]
    assert all(index.ntotal == 50 for index in indexes)
    assert np.array_equal(indexes[0].reconstruct_n(0, 50), indexes[1].reconstruct_n(0, 50))
    if exact_max_mb:
        assert few.files["index"].read_bytes() == one.files["index"].read_bytes()
    assert (few.chunks, few.dim, few.embedded) == (one.chunks, one.dim, one.embedded) == (50, 16, 50)
