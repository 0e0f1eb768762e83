"""Trained models in an artifact store: a manifest that points at one immutable version folder.

    models/<name>/manifest.json                 switched last, with a conditional write
    models/<name>/versions/<version_id>/...     index.faiss, docstore.json (written first)

A reader never sees half a model, a failed training leaves the previous version serving, and two
trainings of one model cannot silently overwrite each other.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from cdgpt.errors import InvalidRequest, ModelNotFound
from cdgpt.ingest.sources.entries import CrawlEntry
from cdgpt.models.store import ArtifactStore

log = logging.getLogger(__name__)

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FORMAT = 1
VERSION_FOLDER = re.compile(r"^v(\d+)-[0-9a-f]+/")
KEEP_VERSIONS = 2  # the current one, and the previous one for readers that are mid-load


class EmbeddingInfo(BaseModel):
    provider: str
    model: str
    dim: int


class SourceRecord(BaseModel):
    entry: str | CrawlEntry
    status: str  # "ok" | "failed"
    reason: str | None = None
    documents: list[dict[str, Any]] = []  # {source, title, sha256, bytes, chunks, etag?, last_modified?, depth?}


class Manifest(BaseModel):
    format: int = FORMAT
    model_name: str
    version: int
    version_id: str
    created_at: str
    embedding: EmbeddingInfo
    prompt: str | None = None
    files: dict[str, str]  # artifact name -> key relative to the model folder
    sizes: dict[str, int]  # artifact name -> bytes
    counts: dict[str, int]
    chunking: dict[str, int]
    sources: list[SourceRecord]


def check_model_name(name: object) -> str:
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name) or ".." in name:
        raise InvalidRequest(
            "model_name must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return name


def manifest_key(name: str) -> str:
    return f"models/{name}/manifest.json"


def read_manifest(store: ArtifactStore, name: str) -> tuple[Manifest, str]:
    found = store.get(manifest_key(check_model_name(name)))
    if found is None:
        raise ModelNotFound(f"model {name!r} has not been trained")
    data, etag = found
    return Manifest.model_validate_json(data), etag


def list_models(store: ArtifactStore) -> list[str]:
    suffix = "/manifest.json"
    keys = store.keys("models/")
    return sorted(k[len("models/") : -len(suffix)] for k in keys if k.endswith(suffix) and k.count("/") == 2)


def read_artifact(store: ArtifactStore, manifest: Manifest, artifact: str) -> bytes:
    found = store.get(f"models/{manifest.model_name}/{manifest.files[artifact]}")
    if found is None:
        raise ModelNotFound(f"model {manifest.model_name!r} is missing its {artifact}; retrain it")
    return found[0]


def publish(store: ArtifactStore, name: str, artifacts: dict[str, tuple[str, bytes]], **fields: Any) -> Manifest:
    """Write a new version's artifacts ({name: (file name, bytes)}), then switch the manifest to it."""
    key = manifest_key(check_model_name(name))
    found = store.get(key)
    previous = Manifest.model_validate_json(found[0]) if found else None
    version = (previous.version if previous else 0) + 1
    version_id = f"v{version:06d}-{secrets.token_hex(4)}"
    folder = f"versions/{version_id}"
    written: list[str] = []
    try:
        for file_name, data in artifacts.values():
            written.append(f"models/{name}/{folder}/{file_name}")
            store.put(written[-1], data)
        manifest = Manifest(
            model_name=name,
            version=version,
            version_id=version_id,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            files={a: f"{folder}/{f}" for a, (f, _) in artifacts.items()},
            sizes={a: len(d) for a, (_, d) in artifacts.items()},
            **fields,
        )
        try:
            store.put_if(key, manifest.model_dump_json(indent=1).encode(), found[1] if found else None)
        except Exception:
            if not _points_at(store, key, version_id):  # a write that landed though its answer was lost is ours
                raise
    except BaseException:
        try:
            store.delete(written)
        except Exception:  # the original failure matters more than the clean-up's
            log.warning("could not remove a failed training's files", extra={"model_name": name})
        raise
    _collect_old_versions(store, name, version)
    return manifest


def _points_at(store: ArtifactStore, key: str, version_id: str) -> bool:
    try:
        current = store.get(key)
        return current is not None and Manifest.model_validate_json(current[0]).version_id == version_id
    except Exception:  # cannot tell: treat the write as failed
        return False


def _collect_old_versions(store: ArtifactStore, name: str, published: int) -> None:
    """Delete versions numbered below the ones kept; a newer one (a training under way) is never touched."""
    prefix = f"models/{name}/versions/"
    floor = published - KEEP_VERSIONS + 1
    try:
        numbered = [(VERSION_FOLDER.match(k[len(prefix) :]), k) for k in store.keys(prefix)]
        store.delete([k for match, k in numbered if match and int(match.group(1)) < floor])
    except Exception:  # the new version is published; old files can wait for the next training
        log.warning("could not remove old versions", extra={"model_name": name}, exc_info=True)


def docstore_bytes(chunks: list[dict[str, Any]]) -> bytes:
    return json.dumps({"format": FORMAT, "chunks": chunks}, ensure_ascii=False, separators=(",", ":")).encode()
