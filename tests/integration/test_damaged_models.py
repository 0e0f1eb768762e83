"""A model whose stored files were damaged (truncated, emptied, overwritten) is reported as damaged,
never as a generic 500, and training it again repairs it; in a local folder and in S3 (moto)."""

from __future__ import annotations

import io
import json
import time

import faiss
import numpy as np
import pytest

from cdgpt import operations
from cdgpt.answer.answering import chat
from cdgpt.clients import reset_clients
from cdgpt.errors import ModelDamaged
from cdgpt.models import artifacts
from cdgpt.models.registry import manifest_key, read_manifest
from cdgpt.training.pipeline import train
from tests.support.stores import sources, store  # noqa: F401

QUESTION = "How many days of annual leave do I get?"


def overwrite(store, key: str, change) -> None:
    data, _ = store.get(key)
    store.put(key, change(data))


MANIFESTS = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "schema-broken": lambda data: json.dumps({"format": 1, "model_name": "m", "version": "three"}).encode(),
    "not-json": lambda data: b"\x00\xff garbage",
}


@pytest.mark.parametrize("damage", MANIFESTS.values(), ids=MANIFESTS.keys())
def test_a_damaged_manifest_is_reported_and_retraining_repairs_it(store, sources, damage):
    train("m", sources, store=store)
    train("m", sources, store=store)
    overwrite(store, manifest_key("m"), damage)
    with pytest.raises(ModelDamaged, match=r"model 'm' is damaged .*retrain it"):
        chat("m", QUESTION, store=store)
    [listed] = operations.list_models(store=store)
    assert listed.status == "damaged" and listed.problem
    # retraining publishes over it, with a version number above every folder still there
    repaired = train("m", sources, store=store)
    assert repaired.version == 3
    assert chat("m", QUESTION, store=store)["model_version"] == 3


def _npz_rewrite(data: bytes, change) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        fields = {name: arrays[name] for name in arrays.files}
    change(fields)
    out = io.BytesIO()
    np.savez(out, **fields)
    return out.getvalue()


def _more_documents(fields) -> None:
    fields["n_docs"] = np.array([int(fields["n_docs"][0]) + 5], dtype=np.int64)


def _posting_past_the_documents(fields) -> None:
    doc_ids = fields["doc_ids"].copy()
    doc_ids[len(doc_ids) // 2] = int(fields["n_docs"][0]) + 7
    fields["doc_ids"] = doc_ids


def _postings_as_floats(fields) -> None:
    fields["doc_ids"] = fields["doc_ids"].astype(np.float32)


def _unknown_source(fields) -> None:
    fields["document"] = fields["document"] + len(json.loads(fields["sources"].tobytes()))


def _garble_line(data: bytes) -> bytes:
    """The first chunk's line made invalid JSON, every size and offset unchanged."""
    end = data.index(b"\n")
    return b"x" * end + data[end:]


def _graph_out_of_bounds(data: bytes) -> bytes:
    """An HNSW index whose links name vectors that do not exist (same size, sound header)."""
    index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    neighbors = faiss.vector_to_array(index.hnsw.neighbors)
    faiss.copy_array_to_vector(np.where(neighbors >= 0, neighbors + 10**6, neighbors), index.hnsw.neighbors)
    return faiss.serialize_index(index).tobytes()


def _levels_above_any(data: bytes) -> bytes:
    """An HNSW index claiming more levels than any vector has."""
    index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    index.hnsw.max_level = index.hnsw.max_level + 3
    return faiss.serialize_index(index).tobytes()


def _untitled_line(data: bytes) -> bytes:
    """The first chunk's record without its title (still JSON, the same size)."""
    return data.replace(b'"title":', b'"titlf":', 1)


ARTIFACTS = {
    "index-truncated": ("index", lambda data: data[: len(data) // 3]),
    "index-random": ("index", lambda data: np.random.default_rng(1).bytes(len(data))),
    "docstore-invalid": ("docstore", lambda data: b'{"format": 1, "chunks": "nope"}'),
    "docstore-shorter": ("docstore", lambda data: data[: data.index(b"\n") + 1]),
    "docstore-line-garbled": ("docstore", _garble_line),
    "docstore-line-untitled": ("docstore", _untitled_line),
    "docstore-index-truncated": ("docstore_index", lambda data: data[: len(data) // 2]),
    "docstore-index-mismatched": ("docstore_index", lambda data: _npz_rewrite(data, _unknown_source)),
    "lexical-truncated": ("lexical", lambda data: data[: len(data) // 2]),
    "lexical-mismatched": ("lexical", lambda data: _npz_rewrite(data, _more_documents)),
    "lexical-posting-out-of-range": ("lexical", lambda data: _npz_rewrite(data, _posting_past_the_documents)),
    "lexical-postings-as-floats": ("lexical", lambda data: _npz_rewrite(data, _postings_as_floats)),
}


@pytest.mark.parametrize(("artifact", "damage"), ARTIFACTS.values(), ids=ARTIFACTS.keys())
@pytest.mark.parametrize("checksums", [True, False], ids=["checked", "older-manifest"])
def test_a_damaged_artifact_is_reported_and_retraining_repairs_it(store, sources, artifact, damage, checksums):
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    if not checksums:  # a manifest written before checksums existed: the structure checks must catch it
        overwrite(
            store,
            manifest_key("m"),
            lambda data: manifest.model_copy(update={"checksums": {}}).model_dump_json().encode(),
        )
        manifest, _ = read_manifest(store, "m")
    key = f"models/m/{manifest.files[artifact]}"
    overwrite(store, key, damage)
    if not checksums:  # keep the size right, so that only the content is wrong
        manifest.sizes[artifact] = len(store.get(key)[0])
        store.put(manifest_key("m"), manifest.model_dump_json().encode())
    with pytest.raises(ModelDamaged, match="model 'm' is damaged"):
        chat("m", QUESTION, store=store)
    assert train("m", sources, store=store).version == 2  # trains from scratch: the damaged version is not reused
    assert chat("m", QUESTION, store=store)["model_version"] == 2


def test_a_download_that_failed_its_checksum_is_fetched_anew_once_the_file_is_repaired(store, sources):
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    key = f"models/m/{manifest.files['lexical']}"
    good = store.get(key)[0]
    overwrite(store, key, lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:])
    with pytest.raises(ModelDamaged, match="does not match its checksum"):
        chat("m", QUESTION, store=store)
    store.put(key, good)  # repaired (a cached copy of the damaged download must not stand in for it)
    assert chat("m", QUESTION, store=store)["model_version"] == 1


@pytest.mark.parametrize("named", ["../../../outside.jsonl", "/etc/passwd", "versions/../../other/docstore.jsonl"])
def test_a_manifest_naming_a_file_outside_the_models_folder_is_damage(store, sources, named):
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    manifest.files["docstore"] = named
    store.put(manifest_key("m"), manifest.model_dump_json().encode())
    with pytest.raises(ModelDamaged, match="named outside the model's folder"):
        chat("m", QUESTION, store=store)


def test_a_missing_artifact_is_damage_too(store, sources):
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    store.delete([f"models/m/{manifest.files['index']}"])
    with pytest.raises(ModelDamaged, match="index is missing"):
        chat("m", QUESTION, store=store)


def test_a_damaged_model_still_lists_its_sources_and_the_schedule_repairs_it(store, sources):
    """Its details say what to retrain it on, and the nightly retraining does (it skipped damaged models)."""
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    store.delete([f"models/m/{manifest.files['index']}"])
    detail = operations.describe_model("m", store=store)
    assert (detail.status, detail.problem, detail.version) == ("damaged", "its index is missing", 1)
    assert [source.entry for source in detail.sources] == sources
    started = operations.schedule_retrains(["*"], store=store)
    assert list(started) == ["m"]
    assert operations.wait_for(started["m"], 60, store=store).status == "succeeded"
    assert operations.describe_model("m", store=store).status == "ready"


def test_a_model_from_before_hybrid_retrieval_is_listed_damaged_not_ready(store, sources):
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    del manifest.files["lexical"]
    store.put(manifest_key("m"), manifest.model_dump_json().encode())
    [listed] = operations.list_models(store=store)
    assert listed.status == "damaged" and "no lexical index" in listed.problem
    with pytest.raises(ModelDamaged, match="no lexical index"):
        chat("m", QUESTION, store=store)


@pytest.mark.parametrize("checksums", [True, False], ids=["checked", "older-manifest"])
@pytest.mark.parametrize("damage", [_graph_out_of_bounds, _levels_above_any], ids=["links", "levels"])
def test_an_approximate_index_whose_graph_is_damaged_is_reported_not_followed(
    store, sources, monkeypatch, checksums, damage
):
    # Given a model with an HNSW index (every model is over a 0 MB threshold)
    monkeypatch.setenv("CDGPT_EXACT_SEARCH_MAX_MB", "0")
    reset_clients()
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    key = f"models/m/{manifest.files['index']}"
    assert isinstance(faiss.deserialize_index(np.frombuffer(store.get(key)[0], dtype=np.uint8)), faiss.IndexHNSWSQ)
    # When its graph is damaged (the file's size unchanged)
    overwrite(store, key, damage)
    if not checksums:
        store.put(manifest_key("m"), manifest.model_copy(update={"checksums": {}}).model_dump_json().encode())
    # Then chat reports the damage instead of following them (Faiss would read out of bounds)
    with pytest.raises(ModelDamaged, match="model 'm' is damaged"):
        chat("m", QUESTION, store=store)


def test_a_large_file_damaged_inside_is_found_by_the_background_checksum(store, sources, monkeypatch):
    # Given every file counts as large (checked after loading, not before)
    monkeypatch.setattr(artifacts, "VERIFY_NOW_BYTES", 0)
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    key = f"models/m/{manifest.files['docstore']}"
    # When one letter of a chunk's text changes: every structure check still passes
    overwrite(store, key, lambda data: data.replace(b"25 days", b"26 days", 1))
    # Then the checksum computed in the background reports it, and chat refuses the model from then on
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chat("m", QUESTION, store=store)
        except ModelDamaged as exc:
            assert "docstore does not match its checksum" in str(exc)
            break
        time.sleep(0.05)
    else:
        pytest.fail("the damage was never reported")
    for _ in range(3):  # from then on, not served again by every other load
        with pytest.raises(ModelDamaged, match="docstore does not match its checksum"):
            chat("m", QUESTION, store=store)
    assert train("m", sources, store=store).version == 2
    assert chat("m", QUESTION, store=store)["model_version"] == 2
