"""Trained models in an artifact store: a manifest that points at one immutable version folder.

    models/<name>/manifest.json                 switched last, with a conditional write
    models/<name>/versions/<version_id>/...     index.faiss, lexical.npz, docstore.jsonl + .npz (written first)

A reader never sees half a model; a failed training leaves the previous version serving; a training
publishes only over the manifest it started from, so two trainings cannot overwrite each other and a
training cannot resurrect a model deleted meanwhile (deleting leaves a small tombstone manifest).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from cdgpt.errors import ConcurrentUpdate, InvalidRequest, ModelDamaged, ModelNotFound
from cdgpt.ingest.sources.entries import CrawlEntry
from cdgpt.models.store import ArtifactStore, Blob

log = logging.getLogger(__name__)

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FORMAT = 1
VERSION_FOLDER = re.compile(r"^v(\d+)-[0-9a-f]+/")
DELETE_ATTEMPTS = 5


class EmbeddingInfo(BaseModel):
    provider: str
    model: str
    dim: int


class Background(BaseModel):
    """The best cosines of questions that no document answers, over a version's chunks (`index/background.py`)."""

    median: float
    p90: float


class SourceRecord(BaseModel):
    entry: str | CrawlEntry
    status: str  # "ok" | "failed"
    reason: str | None = None
    documents: list[
        dict[str, Any]
    ] = []  # {source, title, sha256, bytes, chunks, etag?, last_modified?, depth?, aliases?}, or {source, reason}
    # the sources its documents must come from (the training key's), checked at every training; None: any
    within: list[str] | None = Field(None, exclude_if=lambda scope: scope is None)


class Manifest(BaseModel):
    format: int = FORMAT
    model_name: str
    version: int
    version_id: str
    previous_version_id: str | None = None
    created_at: str
    embedding: EmbeddingInfo
    prompt: str | None = None
    files: dict[str, str]  # artifact name -> key relative to the model folder
    sizes: dict[str, int]  # artifact name -> bytes
    checksums: dict[str, str] = {}  # artifact name -> sha256 (older manifests have none)
    counts: dict[str, int]
    chunking: dict[str, int]
    sources: list[SourceRecord]
    job_id: str | None = None  # the training job that published it (none for a training outside a job)
    background: dict[str, Background] = {}  # per probe language ("en", "zh"); older manifests have none


class Tombstone(BaseModel):
    """What a deleted model's manifest becomes, so that a training still running cannot publish over it."""

    format: int = FORMAT
    model_name: str
    deleted: Literal[True] = True
    deleted_at: str
    last_version: int
    cancelled_job: str | None = None  # the training the deletion cancelled: it may not publish over this


@dataclass(frozen=True)
class Current:
    """A model's stored state as a training starts: what it must find again to publish."""

    manifest: Manifest | None  # None when the model is absent, deleted or damaged
    etag: str | None  # the manifest object's etag (None: no object at all)
    last_version: int  # the highest version number used so far; numbers never repeat
    damaged: str | None = None  # why the stored manifest cannot be read
    cancelled_job: str | None = None  # a tombstone's: the training its deletion cancelled

    def not_found(self, name: str) -> ModelNotFound:
        """The error for a model with no version to serve: never trained, or deleted (a tombstone)."""
        deleted = self.etag is not None and self.manifest is None and not self.damaged
        return ModelNotFound(f"model {name!r} {'was deleted' if deleted else 'has not been trained'}")


def check_model_name(name: object) -> str:
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name) or ".." in name:
        raise InvalidRequest(
            "model_name must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return name


def manifest_key(name: str) -> str:
    return f"models/{name}/manifest.json"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _highest_version(store: ArtifactStore, name: str) -> int:
    prefix = f"models/{name}/versions/"
    numbers = [int(m.group(1)) for k in store.keys(prefix) if (m := VERSION_FOLDER.match(k[len(prefix) :]))]
    return max(numbers, default=0)


def current(store: ArtifactStore, name: str) -> Current:
    found = store.get(manifest_key(check_model_name(name)))
    if found is None:
        return Current(None, None, 0)
    data, etag = found
    try:
        manifest = Manifest.model_validate_json(data)
        return Current(manifest, etag, manifest.version)
    except ValidationError:
        pass
    try:
        tombstone = Tombstone.model_validate_json(data)
        return Current(None, etag, tombstone.last_version, cancelled_job=tombstone.cancelled_job)
    except ValidationError:
        log.warning("damaged manifest", extra={"model_name": name})
        return Current(None, etag, _highest_version(store, name), damaged="its manifest cannot be read")


def read_manifest(store: ArtifactStore, name: str) -> tuple[Manifest, str]:
    """The model's manifest and its etag; ModelNotFound when absent or deleted, ModelDamaged when unreadable."""
    state = current(store, name)
    if state.damaged:
        raise ModelDamaged(f"model {name!r} is damaged ({state.damaged}); retrain it")
    if state.manifest is None or state.etag is None:
        raise state.not_found(name)
    return state.manifest, state.etag


def model_names(store: ArtifactStore, keys: Iterable[str] | None = None) -> list[str]:
    """Names with a manifest object (deleted models' tombstones included; `current` tells them apart), among
    `keys` when the caller has listed "models/" already."""
    suffix = "/manifest.json"
    keys = store.keys("models/") if keys is None else keys
    return sorted(k[len("models/") : -len(suffix)] for k in keys if k.endswith(suffix) and k.count("/") == 2)


NO_LEXICAL = "it has no lexical index (it was trained before hybrid retrieval)"


def stored_damage(manifest: Manifest, sizes: dict[str, int]) -> str | None:
    """What a listing of the store's sizes shows wrong with a version: an artifact missing or not the size its
    manifest records (a checksum mismatch of the same size shows only when the model is loaded)."""
    if "lexical" not in manifest.files:
        return NO_LEXICAL
    for artifact, file_name in manifest.files.items():
        size = sizes.get(f"models/{manifest.model_name}/{file_name}")
        if size is None:
            return f"its {artifact} is missing"
        if size != manifest.sizes.get(artifact, size):
            return f"its {artifact} is not the size its manifest records"
    return None


def read_artifact(store: ArtifactStore, manifest: Manifest, artifact: str) -> bytes:
    """An artifact's bytes, checked against the manifest's size and checksum."""
    found = store.get(f"models/{manifest.model_name}/{manifest.files[artifact]}")
    if found is None:
        raise ModelDamaged(f"model {manifest.model_name!r} is damaged (its {artifact} is missing); retrain it")
    data = found[0]
    expected = manifest.checksums.get(artifact)
    if len(data) != manifest.sizes.get(artifact, len(data)) or (
        expected and hashlib.sha256(data).hexdigest() != expected
    ):
        raise ModelDamaged(
            f"model {manifest.model_name!r} is damaged (its {artifact} does not match its checksum); retrain it"
        )
    return data


def publish(
    store: ArtifactStore, name: str, base: Current, artifacts: dict[str, tuple[str, Blob]], **fields: Any
) -> Manifest:
    """Write a new version's artifacts ({name: (file name, content)}), then switch the manifest to it,
    only if the manifest is still the one the training started from (`base`), and `base` is not the
    tombstone of a deletion that cancelled this training's job (which read it after its job was claimed)."""
    key = manifest_key(check_model_name(name))
    if base.cancelled_job is not None and base.cancelled_job == fields.get("job_id"):
        raise ConcurrentUpdate(f"model {name!r} was deleted while this training ran")
    version = base.last_version + 1
    version_id = f"v{version:06d}-{secrets.token_hex(4)}"
    folder = f"versions/{version_id}"
    written: list[str] = []
    try:
        with ThreadPoolExecutor(1) as pool:  # hashing and writing both release the GIL: on two cores at once
            checksums = pool.submit(lambda: {a: hashlib.sha256(d).hexdigest() for a, (_, d) in artifacts.items()})
            for file_name, data in artifacts.values():
                written.append(f"models/{name}/{folder}/{file_name}")
                store.put(written[-1], data)
        manifest = Manifest(
            model_name=name,
            version=version,
            version_id=version_id,
            previous_version_id=base.manifest.version_id if base.manifest else None,
            created_at=_now(),
            files={a: f"{folder}/{f}" for a, (f, _) in artifacts.items()},
            sizes={a: len(d) for a, (_, d) in artifacts.items()},
            checksums=checksums.result(),
            **fields,
        )
        try:
            store.put_if(key, manifest.model_dump_json(indent=1).encode(), base.etag)
        except Exception as exc:
            landed = _points_at(store, key, version_id)
            if landed is None:  # the manifest may name these files now: they stay (the next training collects them)
                written.clear()
                raise
            if landed:  # a write that landed though its answer was lost is ours
                pass
            elif isinstance(exc, ConcurrentUpdate):
                raise ConcurrentUpdate(
                    f"model {name!r} was retrained or deleted while this training ran; retry"
                ) from exc
            else:
                raise
    except BaseException:
        try:
            store.delete(written)
        except Exception:  # the original failure matters more than the clean-up's
            log.warning("could not remove a failed training's files", extra={"model_name": name})
        raise
    collect_old_versions(store, manifest)
    return manifest


def _points_at(store: ArtifactStore, key: str, version_id: str) -> bool | None:
    """Whether the manifest names this version; None when it cannot be read to tell."""
    try:
        found = store.get(key)
    except Exception:
        return None
    try:
        return found is not None and Manifest.model_validate_json(found[0]).version_id == version_id
    except ValidationError:  # a tombstone, or damaged: not ours
        return False


def collect_old_versions(store: ArtifactStore, manifest: Manifest) -> None:
    """Delete every version folder but the published one and its predecessor (kept for readers mid-load).

    Folders numbered above the published version belong to a training under way and are never touched;
    the others (older versions, and the leftovers of trainings that were killed) go.
    """
    prefix = f"models/{manifest.model_name}/versions/"
    kept = {manifest.version_id, manifest.previous_version_id}
    try:
        stale = []
        for key in store.keys(prefix):
            match = VERSION_FOLDER.match(key[len(prefix) :])
            if match and int(match.group(1)) <= manifest.version and key[len(prefix) :].split("/")[0] not in kept:
                stale.append(key)
        store.delete(stale)
        store.tidy(prefix)
    except Exception:  # the new version is published; old files can wait for the next training
        log.warning("could not remove old versions", extra={"model_name": manifest.model_name}, exc_info=True)


def delete_model(store: ArtifactStore, name: str, cancelled_job: str | None = None) -> int:
    """Replace the manifest by a tombstone, then delete every version; returns how many files went.

    `cancelled_job`: the job that was training the model, cancelled: a tombstone is written even before
    its first version, and that job cannot publish over it (`publish`)."""
    key = manifest_key(check_model_name(name))
    for _ in range(DELETE_ATTEMPTS):
        state = current(store, name)
        if cancelled_job is None and (state.etag is None or (state.manifest is None and not state.damaged)):
            if state.etag is not None:  # deleted before: what a deletion that failed half-way left goes now
                _delete_files(store, name)
            raise state.not_found(name)
        tombstone = Tombstone(
            model_name=name, deleted_at=_now(), last_version=state.last_version, cancelled_job=cancelled_job
        )
        try:
            store.put_if(key, tombstone.model_dump_json().encode(), state.etag)
            break
        except ConcurrentUpdate:
            continue  # a training published meanwhile: delete that version too
    else:
        raise ConcurrentUpdate(f"model {name!r} kept changing while it was being deleted; retry")
    return _delete_files(store, name)


def _delete_files(store: ArtifactStore, name: str) -> int:
    """Every file of the model but its manifest (a tombstone now); how many there were."""
    files = [k for k in store.keys(f"models/{name}/") if k != manifest_key(name)]
    store.delete(files)
    store.tidy(f"models/{name}/")
    return len(files)
