"""Training: sources → text → chunks → vectors → index → a new published model version."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from .chunking import Chunk, chunk_document
from .embeddings import Embedder, make_embedder
from .errors import CdgptError, InvalidRequest, TrainingFailed
from .extract import extract
from .lexical import LexicalIndex
from .limits import MAX_PROMPT_CHARS, MAX_SOURCES
from .registry import EmbeddingInfo, SourceRecord, check_model_name, docstore_bytes, list_models, publish, read_manifest
from .settings import Settings, get_settings
from .sources import load_entry
from .store import ArtifactStore, default_store

log = logging.getLogger(__name__)


Progress = Callable[[str, int, int], None]  # (stage, advance, total)


@dataclass
class EntryResult:
    record: SourceRecord
    chunks: list[Chunk] = field(default_factory=list)


def check_file_list(file_list: object) -> list[str]:
    if not isinstance(file_list, list) or not file_list:
        raise InvalidRequest("file_list must be a non-empty list of sources")
    if len(file_list) > MAX_SOURCES:
        raise InvalidRequest(f"file_list holds more than {MAX_SOURCES} sources")
    if not all(isinstance(entry, str) for entry in file_list):
        raise InvalidRequest("every file_list entry must be a string")
    return list(dict.fromkeys(e.strip() for e in file_list))


def _ingest(entry: str, settings: Settings) -> EntryResult:
    """Fetch, extract and chunk one entry; failures become a record with the reason."""
    try:
        documents, chunks = [], []
        for raw in load_entry(entry, settings):
            doc = extract(raw)
            doc_chunks = chunk_document(doc, settings.chunk_chars, settings.chunk_overlap_chars)
            chunks.extend(doc_chunks)
            documents.append(
                {
                    "source": doc.source,
                    "title": doc.title,
                    "sha256": hashlib.sha256(raw.content).hexdigest(),
                    "bytes": len(raw.content),
                    "chunks": len(doc_chunks),
                }
            )
        return EntryResult(SourceRecord(entry=entry, status="ok", documents=documents), chunks)
    except CdgptError as exc:
        return EntryResult(SourceRecord(entry=entry, status="failed", reason=str(exc)))
    except Exception:  # one bad source must not sink the others
        log.exception("unexpected failure reading a source")
        return EntryResult(SourceRecord(entry=entry, status="failed", reason="internal error reading this source"))


def ingest(entries: list[str], settings: Settings, progress: Progress | None = None) -> list[EntryResult]:
    results = []
    with ThreadPoolExecutor(max_workers=settings.fetch_workers) as pool:
        for result in pool.map(lambda e: _ingest(e, settings), entries):
            results.append(result)
            if progress:
                progress("fetching", 1, len(entries))
    return results


def _kb(size: int) -> float:
    return round(size / 1024, 4)


def train(
    model_name: str,
    file_list: list[str],
    prompt: str | None = None,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> dict:
    settings = settings or get_settings()
    check_model_name(model_name)
    entries = check_file_list(file_list)
    if prompt is not None and (not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS):
        raise InvalidRequest(f"prompt must be a string of at most {MAX_PROMPT_CHARS} characters")
    store = store or default_store(settings)
    embedder = embedder or make_embedder(settings)

    results = ingest(entries, settings, progress)
    chunks = [chunk for result in results for chunk in result.chunks]
    records = [result.record for result in results]
    failed = [r for r in records if r.status == "failed"]
    if not chunks:
        reasons = "; ".join(f"{r.entry}: {r.reason}" for r in failed[:5]) or "no text in any source"
        raise TrainingFailed(f"no source could be used ({reasons})")

    from .index import build_vector_index, vector_index_to_bytes

    report = (lambda n: progress("embedding", n, len(chunks))) if progress else None
    vectors = embedder.embed([c.context for c in chunks], report)
    index_data = vector_index_to_bytes(build_vector_index(vectors))
    lexical_data = LexicalIndex.build([c.context for c in chunks]).to_bytes()
    docstore = docstore_bytes([asdict(c) for c in chunks])
    manifest = publish(
        store,
        model_name,
        {
            "index": ("index.faiss", index_data),
            "lexical": ("lexical.npz", lexical_data),
            "docstore": ("docstore.json", docstore),
        },
        embedding=EmbeddingInfo(provider=embedder.provider, model=embedder.model, dim=embedder.dim),
        prompt=prompt,
        counts={
            "sources": len(records),
            "sources_failed": len(failed),
            "documents": sum(len(r.documents) for r in records),
            "chunks": len(chunks),
        },
        chunking={"chars": settings.chunk_chars, "overlap": settings.chunk_overlap_chars},
        sources=records,
    )
    return {
        "model_name": model_name,
        "index_model_size": _kb(manifest.sizes["index"]),
        "pkl_model_size": _kb(manifest.sizes["docstore"]),
        "size_type": "kb",
        "version": manifest.version,
        "version_id": manifest.version_id,
        "documents": manifest.counts["documents"],
        "chunks": manifest.counts["chunks"],
        "sources": [r.model_dump(include={"entry", "status", "reason"}) for r in records],
    }


def retrain(model_name: str, *, settings: Settings | None = None, store: ArtifactStore | None = None) -> dict:
    """Train a model again on the sources and prompt its current manifest records."""
    settings = settings or get_settings()
    store = store or default_store(settings)
    manifest, _ = read_manifest(store, model_name)
    entries = [record.entry for record in manifest.sources]
    return train(model_name, entries, manifest.prompt, settings=settings, store=store)


def retrain_models(names: list[str], *, settings: Settings | None = None, store: ArtifactStore | None = None) -> dict:
    """Retrain each named model ("*": all of them); one failure does not stop the others."""
    settings = settings or get_settings()
    store = store or default_store(settings)
    if "*" in names:
        names = list_models(store)
    retrained, failed = [], {}
    for name in names:
        try:
            result = retrain(name, settings=settings, store=store)
            retrained.append({"model_name": name, "version": result["version"], "chunks": result["chunks"]})
        except CdgptError as exc:
            failed[name] = str(exc)
            log.warning("retrain failed", extra={"model_name": name, "reason": str(exc)})
    return {"retrained": retrained, "failed": failed}
