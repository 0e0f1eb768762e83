"""A version's artifacts read back together: the vector index, the lexical index and the chunks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zipfile import BadZipFile

from cdgpt.errors import ModelDamaged
from cdgpt.index.docstore import docstore_from_bytes
from cdgpt.index.lexical import LexicalIndex
from cdgpt.models.registry import Manifest, read_artifact
from cdgpt.models.store import ArtifactStore

if TYPE_CHECKING:
    import faiss


@dataclass(frozen=True)
class Artifacts:
    index: faiss.Index
    lexical: LexicalIndex
    chunks: list[dict[str, Any]]


def load_artifacts(store: ArtifactStore, manifest: Manifest) -> Artifacts:
    """The version's artifacts, checked to belong together; ModelDamaged when they cannot be used."""
    from cdgpt.index.vectors import vector_index_from_bytes

    chunks = docstore_from_bytes(read_artifact(store, manifest, "docstore"), manifest.model_name)
    try:
        index = vector_index_from_bytes(read_artifact(store, manifest, "index"))
        lexical = LexicalIndex.from_bytes(read_artifact(store, manifest, "lexical"))
    except (RuntimeError, ValueError, KeyError, OSError, EOFError, BadZipFile) as exc:  # Faiss's and numpy's complaints
        raise ModelDamaged(f"model {manifest.model_name!r} is damaged (an index cannot be read); retrain it") from exc
    if not index.ntotal == lexical.n_docs == len(chunks) or index.d != manifest.embedding.dim:
        raise ModelDamaged(f"model {manifest.model_name!r} is damaged (its artifacts do not match); retrain it")
    return Artifacts(index, lexical, chunks)
