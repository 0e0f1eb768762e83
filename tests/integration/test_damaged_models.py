"""A model whose stored files were damaged (truncated, emptied, overwritten) is reported as damaged,
never as a generic 500, and training it again repairs it; in a local folder and in S3 (moto)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from cdgpt import operations
from cdgpt.answer.answering import chat
from cdgpt.errors import ModelDamaged
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


def _npz_rewrite(data: bytes) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        fields = {name: arrays[name] for name in arrays.files}
    fields["n_docs"] = np.array([int(fields["n_docs"][0]) + 5], dtype=np.int64)
    out = io.BytesIO()
    np.savez(out, **fields)
    return out.getvalue()


ARTIFACTS = {
    "index-truncated": ("index", lambda data: data[: len(data) // 3]),
    "index-random": ("index", lambda data: np.random.default_rng(1).bytes(len(data))),
    "docstore-invalid": ("docstore", lambda data: b'{"format": 1, "chunks": "nope"}'),
    "docstore-shorter": (
        "docstore",
        lambda data: json.dumps({"format": 1, "chunks": json.loads(data)["chunks"][:1]}).encode(),
    ),
    "lexical-truncated": ("lexical", lambda data: data[: len(data) // 2]),
    "lexical-mismatched": ("lexical", _npz_rewrite),
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


def test_a_missing_artifact_is_damage_too(store, sources):
    train("m", sources, store=store)
    manifest, _ = read_manifest(store, "m")
    store.delete([f"models/m/{manifest.files['index']}"])
    with pytest.raises(ModelDamaged, match="index is missing"):
        chat("m", QUESTION, store=store)
