"""The artifact store and the model registry, on S3 (moto) and on a local folder.

A manifest points at an immutable version folder; retraining publishes a new folder and switches the
manifest with a compare-and-swap write; failures and races leave the previous version serving.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from collections import Counter

import faiss
import numpy as np
import pytest

from cdgpt.answer import retrieval
from cdgpt.answer.answering import chat
from cdgpt.api.contract import train_result
from cdgpt.errors import ConcurrentUpdate, UpstreamError
from cdgpt.models.registry import manifest_key, read_manifest
from cdgpt.models.store import STALE_PARTIAL_S, LocalStore, S3Store
from cdgpt.settings import get_settings
from cdgpt.training.pipeline import train
from tests.support.stores import sources, store  # noqa: F401

QUESTION = "How many days of annual leave do I get?"
KEEP_VERSIONS = 2  # the published version and its predecessor


class WrappedStore:
    """Delegates to a real store; subclasses intercept calls."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.location = inner.location

    def get(self, key):
        return self.inner.get(key)

    def changed(self, key, etag):
        return self.inner.changed(key, etag)

    def put(self, key, data):
        self.inner.put(key, data)

    def put_if(self, key, data, etag):
        return self.inner.put_if(key, data, etag)

    def update(self, key, change):
        self.inner.update(key, change)

    def keys(self, prefix):
        return self.inner.keys(prefix)

    def delete(self, keys):
        self.inner.delete(keys)

    def tidy(self, prefix):
        self.inner.tidy(prefix)

    def file(self, key, download_to):
        return self.inner.file(key, download_to)


class FailingStore(WrappedStore):
    """The `put` of the artifact named `fail_on` writes half its bytes, then fails; or the manifest switch fails."""

    def __init__(self, inner, fail_on: str | None = None, fail_manifest: bool = False) -> None:
        super().__init__(inner)
        self.fail_on, self.fail_manifest = fail_on, fail_manifest
        self.puts: list[str] = []

    def put(self, key, data):
        self.puts.append(key)
        if self.fail_on and key.endswith("/" + self.fail_on):
            self.inner.put(key, data[: len(data) // 2])
            raise UpstreamError("injected write failure")
        self.inner.put(key, data)

    def put_if(self, key, data, etag):
        if self.fail_manifest:
            raise UpstreamError("injected manifest failure")
        return self.inner.put_if(key, data, etag)


class CountingStore(WrappedStore):
    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.gets: Counter[str] = Counter()

    def get(self, key):
        self.gets[key] = self.gets[key] + 1
        return self.inner.get(key)

    def file(self, key, download_to):
        self.gets[key] = self.gets[key] + 1
        return self.inner.file(key, download_to)


def version_folders(store, name: str) -> set[str]:
    prefix = f"models/{name}/versions/"
    folders = {key[len(prefix) :].split("/", 1)[0] for key in store.keys(prefix)}
    if isinstance(store, LocalStore):  # and no emptied folders are left behind on disk
        assert {p.name for p in (store.root / prefix).iterdir()} == folders
    return folders


def test_manifest_points_at_a_version_folder_with_a_faiss_index_and_a_json_lines_docstore(store, sources):
    """No pickle anywhere: a Faiss index, a JSON-lines docstore with its offsets, and a plain-array BM25 index."""
    result = train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    folder = f"versions/{manifest.version_id}"
    names = {
        "index": "index.faiss",
        "lexical": "lexical.npz",
        "docstore": "docstore.jsonl",
        "docstore_index": "docstore.npz",
    }
    assert manifest.files == {artifact: f"{folder}/{name}" for artifact, name in names.items()}
    assert sorted(store.keys("models/m/versions/")) == sorted(f"models/m/{folder}/{name}" for name in names.values())
    assert not [k for k in store.keys("models/") if k.endswith((".pkl", ".pickle")) or "/.tmp-" in k]

    data = {artifact: store.get(f"models/m/{manifest.files[artifact]}")[0] for artifact in names}
    assert manifest.sizes == {artifact: len(content) for artifact, content in data.items()}
    assert manifest.checksums == {artifact: hashlib.sha256(content).hexdigest() for artifact, content in data.items()}
    wire = train_result(result)
    assert wire.index_model_size == round(len(data["index"]) / 1024, 4)
    assert wire.pkl_model_size == round((len(data["docstore"]) + len(data["docstore_index"])) / 1024, 4)

    lines = data["docstore"].decode().splitlines(keepends=True)
    chunks = [json.loads(line) for line in lines]  # plain JSON, one chunk per line
    assert len(chunks) == result.chunks == manifest.counts["chunks"]
    assert set(chunks[0]) == {"source", "title", "headings", "position", "text", "anchor", "page"}
    with np.load(io.BytesIO(data["docstore_index"]), allow_pickle=False) as arrays:
        assert arrays["offsets"].tolist() == [0, *np.cumsum([len(line.encode()) for line in lines]).tolist()]
        sources_table = json.loads(arrays["sources"].tobytes())
        assert [sources_table[d] for d in arrays["document"]] == [c["source"] for c in chunks]
    assert set(sources_table) == {"docs/leave.md", "docs/expenses.txt"}

    index = faiss.deserialize_index(np.frombuffer(data["index"], dtype=np.uint8))
    assert isinstance(index, faiss.IndexFlatIP)  # a small model is searched exactly
    assert index.ntotal == len(chunks) and index.d == manifest.embedding.dim == 512

    with np.load(io.BytesIO(data["lexical"]), allow_pickle=False) as arrays:  # raises on any object array
        assert int(arrays["n_docs"][0]) == len(chunks)
        assert all(arrays[name].dtype != object for name in arrays.files)


def test_retraining_bumps_the_version_and_keeps_only_the_previous_one(store, sources):
    ids = []
    for expected_version in (1, 2, 3):
        result = train("m", sources, store=store)
        assert result.version == expected_version
        ids.append(result.version_id)
    assert len(set(ids)) == 3
    assert version_folders(store, "m") == set(ids[-KEEP_VERSIONS:]) == {ids[1], ids[2]}
    assert read_manifest(store, "m")[0].version_id == ids[2]
    assert chat("m", QUESTION, store=store)["model_version"] == 3


@pytest.mark.parametrize(
    "failure",
    [
        {"fail_on": "index.faiss"},
        {"fail_on": "lexical.npz"},
        {"fail_on": "docstore.jsonl"},
        {"fail_on": "docstore.npz"},
        {"fail_manifest": True},
    ],
    ids=["index-write", "lexical-write", "docstore-write", "docstore-index-write", "manifest-switch"],
)
def test_a_failed_write_leaves_the_previous_version_serving(store, sources, failure):
    train("m", sources, store=store)
    manifest_before = store.get(manifest_key("m"))
    files_before = sorted(store.keys("models/m/versions/"))
    assert chat("m", QUESTION, store=store)["model_version"] == 1

    failing = FailingStore(store, **failure)
    with pytest.raises(UpstreamError, match="injected"):
        train("m", sources, store=failing)

    assert store.get(manifest_key("m")) == manifest_before
    assert sorted(store.keys("models/m/versions/")) == files_before  # the half-written files are gone
    assert len(version_folders(store, "m")) == 1
    assert failing.puts and not any(store.get(key) for key in failing.puts)
    reply = chat("m", QUESTION, store=store)
    assert reply["model_version"] == 1 and reply["sources"]
    # and the next training works normally
    assert train("m", sources, store=store).version == 2


def test_a_stale_etag_loses_the_race(store, sources):
    train("m", sources, store=store)
    _, stale = read_manifest(store, "m")
    train("m", sources, store=store)  # another training publishes meanwhile
    current = store.get(manifest_key("m"))
    with pytest.raises(ConcurrentUpdate, match="changed by another writer"):
        store.put_if(manifest_key("m"), b'{"format": 1}', stale)
    assert store.get(manifest_key("m")) == current


def test_two_trainings_racing_one_wins_the_other_fails_cleanly(store, sources):
    train("m", sources, store=store)
    winner: list = []

    class RacingStore(WrappedStore):
        def put_if(self, key, data, etag):
            # Just before this training switches the manifest, another one publishes.
            winner.append(train("m", sources, store=store))
            return self.inner.put_if(key, data, etag)

    with pytest.raises(ConcurrentUpdate):
        train("m", sources, store=RacingStore(store))

    manifest, _ = read_manifest(store, "m")
    assert manifest.version_id == winner[0].version_id and manifest.version == 2
    folders = version_folders(store, "m")
    assert winner[0].version_id in folders and len(folders) == 2  # the winner's, and the previous one
    assert chat("m", QUESTION, store=store)["model_version"] == 2


@pytest.mark.parametrize("error", [ConcurrentUpdate, UpstreamError], ids=["retry-conflict", "lost-answer"])
def test_a_manifest_write_that_landed_before_its_retry_failed_still_publishes(store, sources, error):
    train("m", sources, store=store)

    class LostResponseStore(WrappedStore):
        def put_if(self, key, data, etag):
            # The write lands, its response is lost (or the retry finds the etag already changed).
            self.inner.put_if(key, data, etag)
            raise error("the answer to the manifest write was lost")

    result = train("m", sources, store=LostResponseStore(store))

    manifest, _ = read_manifest(store, "m")
    assert manifest.version_id == result.version_id and manifest.version == 2
    assert result.version_id in version_folders(store, "m")  # its files were kept, not cleaned up
    assert chat("m", QUESTION, store=store)["model_version"] == 2


def test_a_manifest_write_whose_answer_and_check_are_both_lost_keeps_the_files_it_may_name(store, sources):
    train("m", sources, store=store)

    class BlindStore(WrappedStore):
        reads_lost = 0

        def put_if(self, key, data, etag):  # the write lands, its answer is lost...
            self.inner.put_if(key, data, etag)
            self.reads_lost = 1
            raise UpstreamError("the answer to the manifest write was lost")

        def get(self, key):  # ...and so is the read that would tell
            if self.reads_lost:
                self.reads_lost -= 1
                raise UpstreamError("S3 answered 503")
            return self.inner.get(key)

    with pytest.raises(UpstreamError):
        train("m", sources, store=BlindStore(store))
    # the manifest names the new version: its files are still there, and it answers
    assert chat("m", QUESTION, store=store)["model_version"] == 2


def test_a_failing_clean_up_does_not_hide_the_original_error(store, sources):
    train("m", sources, store=store)

    class BrokenCleanUp(FailingStore):
        def delete(self, keys):
            raise UpstreamError("clean-up failed too")

    with pytest.raises(UpstreamError, match="injected manifest failure"):
        train("m", sources, store=BrokenCleanUp(store, fail_manifest=True))
    assert read_manifest(store, "m")[0].version == 1


def test_clean_up_never_deletes_the_files_of_a_training_still_under_way(store, sources):
    # Given a published model and a training that has started writing a newer version
    train("m", sources, store=store)
    in_flight = "models/m/versions/v000003-0123abcd/index.faiss"
    store.put(in_flight, b"half-written by a training under way")
    # When a training publishes and cleans up old versions
    assert train("m", sources, store=store).version == 2
    # Then the newer training's files are still there
    assert store.get(in_flight)[0] == b"half-written by a training under way"


def test_a_killed_trainings_leftovers_are_removed_by_the_next_publish(store, sources):
    # Given a training killed after it wrote part of its version (a file, a temporary file, an empty folder)
    train("m", sources, store=store)
    store.put("models/m/versions/v000002-dead0001/index.faiss", b"half")
    store.put("models/m/versions/v000002-dead0001/.tmp-abc", b"half")
    if isinstance(store, LocalStore):
        (store.root / "models/m/versions/v000002-dead0002").mkdir()
    # When the model is trained again
    published = train("m", sources, store=store)
    # Then only the published version and its predecessor are left
    previous = read_manifest(store, "m")[0].previous_version_id
    assert version_folders(store, "m") == {published.version_id, previous}


def test_put_if_none_refuses_an_existing_key(store):
    key = "models/m/manifest.json"
    store.put_if(key, b"first", None)  # creates
    with pytest.raises(ConcurrentUpdate):
        store.put_if(key, b"second", None)
    data, etag = store.get(key)
    assert data == b"first"
    store.put_if(key, b"third", etag)  # the current etag wins
    assert store.get(key)[0] == b"third"
    with pytest.raises(ConcurrentUpdate):
        store.put_if(key, b"fourth", etag)  # that etag is now stale
    assert not store.changed(key, store.get(key)[1])
    assert store.changed(key, etag)
    assert store.changed("models/m/missing.json", etag)


def test_update_writes_what_the_change_makes_of_the_current_content(store):
    key = "throttle/k.json"
    store.update(key, lambda found: b"1" if found is None else b"wrong")
    store.update(key, lambda found: str(int(found) + 1).encode())
    store.update(key, lambda found: None)  # None: left as it is
    assert store.get(key)[0] == b"2"


def test_an_update_overtaken_by_another_writer_is_refused_or_waits_its_turn(store):
    key = "usage/m/day.json"
    store.put(key, b"0")
    others: list[threading.Thread] = []

    def overtaken(found):
        if isinstance(store, LocalStore):  # another writer meanwhile waits for the key's lock
            others.append(threading.Thread(target=store.update, args=(key, lambda value: value + b"+other")))
            others[0].start()
            others[0].join(timeout=0.2)
            assert others[0].is_alive()
        else:  # S3: another writer lands between this read and this write
            store.put(key, b"other")
        return found + b"+mine"

    if isinstance(store, LocalStore):
        store.update(key, overtaken)
        others[0].join()
        assert store.get(key)[0] == b"0+mine+other"
    else:
        with pytest.raises(ConcurrentUpdate):
            store.update(key, overtaken)
        assert store.get(key)[0] == b"other"


def test_store_basics(store):
    assert store.get("models/none/manifest.json") is None
    store.put("models/a/versions/v1/x.bin", b"\x00\x01")
    store.put("models/a/versions/v2/y.bin", b"y")
    store.put("models/b/z.bin", b"z")
    assert store.get("models/a/versions/v1/x.bin")[0] == b"\x00\x01"
    assert sorted(store.keys("models/a/versions/")) == ["models/a/versions/v1/x.bin", "models/a/versions/v2/y.bin"]
    store.delete(["models/a/versions/v1/x.bin", "models/a/versions/v9/never-written.bin"])
    assert store.keys("models/a/versions/") == ["models/a/versions/v2/y.bin"]
    assert store.keys("models/nothing/") == []


def test_chat_caches_the_loaded_model_and_picks_up_a_retrain(store, sources):
    train("m", sources, store=store)
    counting = CountingStore(store)
    first = chat("m", QUESTION, store=counting)
    second = chat("m", QUESTION, store=counting)
    v1 = read_manifest(store, "m")[0]
    index_v1 = f"models/m/{v1.files['index']}"
    assert first["model_version"] == second["model_version"] == 1
    assert counting.gets[index_v1] == 1  # the second chat did not reload the index
    assert counting.gets[f"models/m/{v1.files['docstore']}"] == 1
    assert counting.gets[manifest_key("m")] == 1  # only a cheap `changed` check the second time

    train("m", sources, store=store)
    third = chat("m", QUESTION, store=counting)
    v2 = read_manifest(store, "m")[0]
    assert third["model_version"] == 2
    assert counting.gets[f"models/m/{v2.files['index']}"] == 1
    assert counting.gets[index_v1] == 1
    chat("m", QUESTION, store=counting)
    assert counting.gets[f"models/m/{v2.files['index']}"] == 1


class EvictingStore(WrappedStore):
    """Another thread's load evicts every cached model while this one checks its manifest."""

    def changed(self, key, etag):
        retrieval._cache.clear()
        return self.inner.changed(key, etag)


def test_a_cached_model_evicted_by_another_thread_meanwhile_is_still_served(store, sources):
    train("m", sources, store=store)
    evicting = EvictingStore(store)
    chat("m", QUESTION, store=evicting)  # loads and caches it
    assert chat("m", QUESTION, store=evicting)["model_version"] == 1


def test_partial_downloads_left_by_a_killed_function_are_removed_by_the_next_download(store, tmp_path):
    if not isinstance(store, S3Store):
        pytest.skip("a local store reads its files in place")
    store.put("models/m/x.bin", b"x" * 100)
    target = tmp_path / "cache" / "x.bin"
    target.parent.mkdir()
    stale, fresh = target.with_name(".x.bin.111.222"), target.with_name(".x.bin.333.444")
    for left in (stale, fresh):
        left.write_bytes(b"half")
    old = time.time() - STALE_PARTIAL_S - 60
    os.utime(stale, (old, old))  # left by a function killed mid-download; `fresh` may be another's under way
    assert store.file("models/m/x.bin", target) == target and target.read_bytes() == b"x" * 100
    assert not stale.exists() and fresh.exists()


def test_stray_keys_under_versions_do_not_fail_a_training(store, sources):
    # Given a folder marker and a stray file beside the version folders
    train("m", sources, store=store)
    store.put("models/m/versions/README.txt", b"left by hand")
    store.put("models/m/versions/notes/x", b"left by hand")
    # When the model is retrained twice, then both publish and the stray keys are left alone
    assert train("m", sources, store=store).version == 2
    assert train("m", sources, store=store).version == 3
    assert store.get("models/m/versions/README.txt")[0] == b"left by hand"


def test_a_model_whose_files_are_gone_can_still_be_retrained(store, sources):
    # Given a manifest pointing at files that were deleted
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    store.delete([f"models/m/{key}" for key in manifest.files.values()])
    # When it is retrained, then it trains from scratch and serves again
    result = train("m", sources, store=store)
    assert result.version == 2 and result.chunks_embedded == result.chunks
    assert chat("m", QUESTION, store=store)["model_version"] == 2


def test_objects_s3_refuses_to_delete_are_a_failure_not_a_count(store, sources, monkeypatch):
    """DeleteObjects answers 200 and lists what it kept (AccessDenied): the deletion must not pass for done."""
    if not isinstance(store, S3Store):
        pytest.skip("S3 only")
    store.put("models/m/one", b"1")
    client = store._client()
    real = client.delete_objects

    def denied(**kwargs):
        real(**kwargs)
        return {"Errors": [{"Key": "models/m/one", "Code": "AccessDenied", "Message": "Access Denied"}]}

    monkeypatch.setattr(client, "delete_objects", denied)
    with pytest.raises(UpstreamError, match=r"^S3 delete failed: AccessDenied \(1 objects kept\)$"):
        store.delete(["models/m/one"])


def test_a_warm_training_worker_keeps_one_downloaded_version_not_one_per_model(store, sources):
    """Each retraining downloads the version it replaces to reuse its vectors; a worker retraining model after
    model keeps only the last one (its /tmp is 4 GB; a large version is most of a GB)."""
    if not isinstance(store, S3Store):
        pytest.skip("a local store's files are read where they are")
    for name in ("ca", "cb", "cc"):
        train(name, sources, store=store)
        assert train(name, sources, store=store).chunks_embedded == 0  # the vectors were reused
    cached = sorted(p.relative_to(p.parents[1]) for p in (get_settings().cache_dir / "training").glob("*/*/*"))
    assert [p.parts[0] for p in cached] == ["cc"]


def test_a_chat_loading_a_version_that_two_publishes_collect_meanwhile_loads_the_new_one(store, sources, monkeypatch):
    """Only the published version and its predecessor are kept: a slow load of v1 (a large model's download)
    can find its files gone when v2 and v3 land meanwhile. That is no damaged model."""
    train("m", sources, store=store)
    real = retrieval.load_artifacts
    calls = []

    def slow_load(store_, manifest, cache_dir):
        calls.append(manifest.version)
        if len(calls) == 1:
            train("m", sources, store=store)
            train("m", sources, store=store)
        return real(store_, manifest, cache_dir)

    monkeypatch.setattr(retrieval, "load_artifacts", slow_load)
    assert chat("m", QUESTION, store=store)["model_version"] == 3
    assert calls == [1, 3]


def test_a_deletion_that_fails_half_way_is_finished_by_the_next(store, sources):
    """The tombstone is written first: files S3 refused to delete, and the conversations, must not be left for good."""
    from cdgpt import operations
    from cdgpt.errors import ModelNotFound

    train("m", sources, store=store)
    store.put("conversations/m/c0000000000000001.json", b"{}")

    class Refusing(WrappedStore):
        refused = False

        def delete(self, keys):
            if not self.refused and any(k.startswith("models/m/") for k in keys):
                self.refused = True
                raise UpstreamError("S3 delete failed: AccessDenied (3 objects kept)")
            self.inner.delete(keys)

    refusing = Refusing(store)
    with pytest.raises(UpstreamError):
        operations.delete("m", store=refusing)
    assert store.keys("conversations/m/") == []  # forgotten all the same
    assert store.keys("models/m/versions/") != []  # the files S3 kept
    with pytest.raises(ModelNotFound, match="was deleted"):
        operations.delete("m", store=refusing)
    assert store.keys("models/m/") == [manifest_key("m")]  # the tombstone alone
