"""A version's artifacts read back together: the vector index, the lexical index and the docstore.

They are used from local files: the local store's own, or an S3 version's files downloaded once
into the cache folder (`CDGPT_CACHE_DIR`, /tmp on Lambda) and reused until the model changes. The
vector index and the docstore's text are memory-mapped, so loading reads neither whole.

Every file's size is checked before it is used, and what is parsed is checked for structure and
for agreeing with the others. Checksums: a file of up to VERIFY_NOW_BYTES is checked before use;
larger ones are hashed by a background thread at the lowest priority (hashing 600 MB takes a second,
longer than the whole load), and a model found damaged then is reported as damaged from the next
request on. Training verifies every checksum before it reuses a version's vectors.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mmap
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zipfile import BadZipFile

from cdgpt.errors import ModelDamaged
from cdgpt.index.docstore import Docstore, DocstoreError, read_docstore, read_legacy_docstore
from cdgpt.index.lexical import LexicalIndex
from cdgpt.models.registry import NO_LEXICAL, Manifest
from cdgpt.models.store import ArtifactStore, leaves_folder

if TYPE_CHECKING:
    from cdgpt.index.vectors import VectorIndex

log = logging.getLogger(__name__)

VERIFY_NOW_BYTES = 8 * 1024 * 1024
# (store location, version id, artifact) whose background checksum failed in this process: such a file is
# checked before it is used again, so a damaged version is not served again on every other load
_FAILED: set[tuple[str, str, str]] = set()
HASH_BLOCK = 8 * 1024 * 1024


def damaged(name: str, what: str) -> ModelDamaged:
    return ModelDamaged(f"model {name!r} is damaged ({what}); retrain it")


@dataclass
class Verification:
    """The checksums of a version's larger files, computed after it was loaded."""

    model_name: str
    pending: list[tuple[str, Path, str, bool]]  # (artifact, file, sha256, a cached download)
    version: tuple[str, str] = ("", "")  # (store location, version id)
    problem: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # Linux: the lowest priority, for this thread only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            for artifact, path, expected, cached in self.pending:
                if _sha256(path) != expected:
                    self.problem = f"its {artifact} does not match its checksum"
                    _FAILED.add((*self.version, artifact))
                    if cached:
                        path.unlink(missing_ok=True)  # the next load downloads it again
                    log.warning("damaged artifact", extra={"model_name": self.model_name, "artifact": artifact})
                    return
        except OSError:
            self.problem = "its files cannot be read"
        finally:
            self.done.set()

    def start(self) -> None:
        if self.pending:
            threading.Thread(target=self.run, name=f"verify-{self.model_name}", daemon=True).start()
        else:
            self.done.set()

    def check(self, wait: bool = False) -> None:
        """ModelDamaged when a checksum failed (waiting for the last one first with `wait`)."""
        if wait:
            self.done.wait()
        if self.problem:
            raise damaged(self.model_name, self.problem)


@dataclass(frozen=True)
class Artifacts:
    index: VectorIndex
    lexical: LexicalIndex
    chunks: Docstore
    verification: Verification


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def cache_folder(store: ArtifactStore, manifest: Manifest, cache_dir: Path) -> Path:
    location = hashlib.sha256(store.location.encode()).hexdigest()[:16]
    return cache_dir / location / manifest.model_name / manifest.version_id


def _file(store: ArtifactStore, manifest: Manifest, artifact: str, folder: Path) -> Path:
    """The artifact's local file, of the size the manifest gives."""
    relative = manifest.files[artifact]
    if leaves_folder(relative):
        raise damaged(manifest.model_name, f"its {artifact} is named outside the model's folder")
    path = store.file(f"models/{manifest.model_name}/{relative}", folder / Path(relative).name)
    if path is None:
        raise damaged(manifest.model_name, f"its {artifact} is missing")
    if path.stat().st_size != manifest.sizes.get(artifact, path.stat().st_size):
        if path.is_relative_to(folder):
            path.unlink(missing_ok=True)
        raise damaged(manifest.model_name, f"its {artifact} is not the size it was published with")
    return path


def _map(path: Path) -> mmap.mmap | bytes:
    with open(path, "rb") as handle:
        if not path.stat().st_size:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def load_artifacts(store: ArtifactStore, manifest: Manifest, cache_dir: Path, *, verify: bool = False) -> Artifacts:
    """The version's artifacts, checked to belong together; ModelDamaged when they cannot be used.

    With `verify`, every checksum is checked before returning (training reuses vectors only so)."""
    from cdgpt.index.vectors import VectorIndexError, read_vector_index

    name = manifest.model_name
    folder = cache_folder(store, manifest, cache_dir)
    files = {artifact: _file(store, manifest, artifact, folder) for artifact in manifest.files}
    later = []
    version = (store.location, manifest.version_id)
    for artifact, path in files.items():
        expected = manifest.checksums.get(artifact)
        if not expected:
            continue
        failed_before = (*version, artifact) in _FAILED
        if path.stat().st_size > VERIFY_NOW_BYTES and not verify and not failed_before:
            later.append((artifact, path, expected, path.is_relative_to(folder)))
        elif _sha256(path) != expected:
            if path.is_relative_to(folder):  # a cached download: fetched anew next time
                path.unlink(missing_ok=True)
            raise damaged(name, f"its {artifact} does not match its checksum")
        else:
            _FAILED.discard((*version, artifact))  # repaired
    if "lexical" not in files:
        raise damaged(name, NO_LEXICAL)
    try:
        index = read_vector_index(files["index"])
        lexical = LexicalIndex.from_bytes(_map(files["lexical"]))
        if "docstore_index" in files:
            chunks = read_docstore(_map(files["docstore"]), files["docstore_index"].read_bytes(), name)
        else:
            chunks = read_legacy_docstore(files["docstore"].read_bytes(), name)
    except DocstoreError as exc:
        raise damaged(name, "its docstore cannot be read") from exc
    except (VectorIndexError, ValueError, KeyError, OSError, EOFError, BadZipFile) as exc:  # numpy's complaints
        raise damaged(name, "an index cannot be read") from exc
    if not index.ntotal == lexical.n_docs == len(chunks) or index.dim != manifest.embedding.dim:
        raise damaged(name, "its artifacts do not match")
    _forget_other_versions(folder)
    verification = Verification(name, later, version)
    verification.start()
    return Artifacts(index, lexical, chunks, verification)


def _forget_other_versions(folder: Path) -> None:
    """Cached downloads of the model's older versions (a reader still mapping one keeps its pages)."""
    if folder.parent.is_dir():
        for other in folder.parent.iterdir():
            if other.name < folder.name:  # version ids sort by version number
                shutil.rmtree(other, ignore_errors=True)
