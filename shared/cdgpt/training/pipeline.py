"""Training: sources → text → chunks → vectors → index → a new published model version."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict

from cdgpt.errors import CdgptError, InvalidRequest, TrainingFailed
from cdgpt.index.embeddings import Embedder, make_embedder
from cdgpt.index.lexical import LexicalIndex
from cdgpt.ingest.extract import EXTRACTION_VERSION
from cdgpt.ingest.incremental import load_previous
from cdgpt.ingest.pipeline import ingest
from cdgpt.ingest.sources.entries import Entry, entry_label, parse_entry
from cdgpt.limits import MAX_PROMPT_CHARS, MAX_SOURCES
from cdgpt.models.registry import EmbeddingInfo, check_model_name, docstore_bytes, list_models, publish, read_manifest
from cdgpt.models.store import ArtifactStore, default_store
from cdgpt.settings import Settings, get_settings
from cdgpt.training.reuse import embed_chunks, previous_vectors

log = logging.getLogger(__name__)


Progress = Callable[[str, int, int], None]  # (stage, advance, total)


def check_file_list(file_list: object) -> list[Entry]:
    if not isinstance(file_list, list) or not file_list:
        raise InvalidRequest("file_list must be a non-empty list of sources")
    if len(file_list) > MAX_SOURCES:
        raise InvalidRequest(f"file_list holds more than {MAX_SOURCES} sources")
    return list(dict.fromkeys(parse_entry(e) for e in file_list))


def _kb(size: int) -> float:
    return round(size / 1024, 4)


def train(
    model_name: str,
    file_list: Sequence[Entry],
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

    chunking = {
        "chars": settings.chunk_chars,
        "overlap": settings.chunk_overlap_chars,
        "extraction": EXTRACTION_VERSION,
    }
    records, chunks = ingest(entries, settings, progress, load_previous(store, model_name, chunking))
    failed = [r for r in records if r.status == "failed"]
    if not chunks:
        reasons = "; ".join(f"{entry_label(r.entry)}: {r.reason}" for r in failed[:5]) or "no text in any source"
        raise TrainingFailed(f"no source could be used ({reasons})")

    from cdgpt.index.vectors import build_vector_index, vector_index_to_bytes

    known = previous_vectors(store, model_name, embedder)
    report = (lambda n: progress("embedding", n, len(chunks))) if progress else None
    vectors, embedded = embed_chunks(chunks, embedder, known, report)
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
        embedding=EmbeddingInfo(provider=embedder.provider, model=embedder.model, dim=vectors.shape[1]),
        prompt=prompt,
        counts={
            "sources": len(records),
            "sources_failed": len(failed),
            "documents": sum(1 for r in records for d in r.documents if "reason" not in d),
            "documents_failed": sum(1 for r in records for d in r.documents if "reason" in d),
            "chunks": len(chunks),
            "chunks_embedded": embedded,
            "documents_unchanged": sum(1 for r in records for d in r.documents if d.get("unchanged")),
        },
        chunking=chunking,
        sources=records,
    )
    return {
        "model_name": model_name,
        "index_model_size": _kb(manifest.sizes["index"]),
        "pkl_model_size": _kb(manifest.sizes["docstore"]),  # the name is the original service's
        "lexical_model_size": _kb(manifest.sizes["lexical"]),
        "size_type": "kb",
        "version": manifest.version,
        "version_id": manifest.version_id,
        "documents": manifest.counts["documents"],
        "chunks": manifest.counts["chunks"],
        "chunks_embedded": embedded,
        "documents_unchanged": manifest.counts["documents_unchanged"],
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
            log.warning("retrain failed", extra={"model_name": name, "reason": failed[name]})
        except Exception:  # one model's failure must not stop the others
            log.exception("retrain failed unexpectedly", extra={"model_name": name})
            failed[name] = "internal error; see the function's logs"
    return {"retrained": retrained, "failed": failed}
