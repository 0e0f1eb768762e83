"""Training: sources → text → chunks → vectors → index → a new published model version.

Every training reads the model's current state first and publishes only over that same state, so a
training that overlaps another one, or a deletion, fails instead of overwriting it.
"""

from __future__ import annotations

import mmap
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel

from cdgpt.errors import InvalidRequest, ModelDamaged, ModelNotFound, TrainingFailed
from cdgpt.index.docstore import DocstoreWriter
from cdgpt.index.embeddings import Embedder, make_embedder
from cdgpt.index.lexical import LexicalBuilder
from cdgpt.ingest.chunking import Chunk
from cdgpt.ingest.extract import EXTRACTION_VERSION
from cdgpt.ingest.incremental import previous_documents
from cdgpt.ingest.pipeline import ingest
from cdgpt.ingest.sources.entries import Entry, entry_label, parse_entry
from cdgpt.limits import MAX_PROMPT_CHARS, MAX_SOURCES
from cdgpt.models.registry import Current, EmbeddingInfo, SourceRecord, check_model_name, current, publish
from cdgpt.models.store import ArtifactStore, Blob, default_store
from cdgpt.settings import Settings, get_settings
from cdgpt.training.reuse import NO_PREVIOUS, DimensionChanged, PreviousVersion, embed_batches, load_previous, reusable
from cdgpt.usage import Usage, add_usage, metering

BATCH = 2048  # chunks embedded and indexed at a time

Progress = Callable[[str, int, int], None]  # (stage, advance, total)


class TrainOutcome(BaseModel):
    """A published version, as the API and the CLI report it (sources without their documents)."""

    model_name: str
    version: int
    version_id: str
    sizes: dict[str, int]  # artifact name -> bytes
    documents: int
    chunks: int
    chunks_embedded: int
    documents_unchanged: int = 0  # not read again: their source said so, or their content was the same
    sources: list[SourceRecord]
    usage: Usage | None = None  # the new text's embedding


def check_file_list(file_list: object) -> list[Entry]:
    if not isinstance(file_list, list) or not file_list:
        raise InvalidRequest("file_list must be a non-empty list of sources")
    if len(file_list) > MAX_SOURCES:
        raise InvalidRequest(f"file_list holds more than {MAX_SOURCES} sources")
    return list(dict.fromkeys(parse_entry(e) for e in file_list))


def check_prompt(prompt: object) -> str | None:
    if prompt is not None and (not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS):
        raise InvalidRequest(f"prompt must be a string of at most {MAX_PROMPT_CHARS} characters")
    return prompt


def _trained(state: Current, name: str) -> Current:
    if state.damaged:
        raise ModelDamaged(f"model {name!r} is damaged ({state.damaged}); train it again with its whole file_list")
    if state.manifest is None:
        raise ModelNotFound(f"model {name!r} has not been trained")
    return state


def _chunking(settings: Settings) -> dict[str, int]:
    """How text becomes chunks: a previous version's documents are reused only when it matches."""
    return {"chars": settings.chunk_chars, "overlap": settings.chunk_overlap_chars, "extraction": EXTRACTION_VERSION}


def _no_text(records: list[SourceRecord], what: str) -> TrainingFailed:
    reasons = [f"{entry_label(r.entry)}: {r.reason}" for r in records if r.status == "failed"][:5]
    return TrainingFailed(f"{what} ({'; '.join(reasons) or 'no text in any source'})")


def train(
    model_name: str,
    file_list: Sequence[Entry],
    prompt: str | None = None,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> TrainOutcome:
    """Train the model on exactly these sources (a new model, or a new version replacing the current one)."""
    settings = settings or get_settings()
    check_model_name(model_name)
    entries = check_file_list(file_list)
    prompt = check_prompt(prompt)
    store = store or default_store(settings)
    embedder = embedder or make_embedder(settings)
    base = current(store, model_name)
    previous = reusable(store, base.manifest, embedder)
    unchanged = previous_documents(base.manifest, previous.docstore, _chunking(settings))
    records, chunks = ingest(entries, settings, progress, unchanged)
    if not chunks:
        raise _no_text(records, "no source could be used")
    return _build(store, model_name, base, records, chunks, previous, prompt, embedder, settings, progress)


def retrain(
    model_name: str,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
    progress: Progress | None = None,
) -> TrainOutcome:
    """Train a model again on the sources and prompt its current manifest records."""
    settings = settings or get_settings()
    store = store or default_store(settings)
    manifest = _trained(current(store, model_name), model_name).manifest
    assert manifest is not None
    entries = [record.entry for record in manifest.sources]
    return train(model_name, entries, manifest.prompt, settings=settings, store=store, progress=progress)


def update_sources(
    model_name: str,
    add: Sequence[Entry],
    remove: Sequence[Entry],
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> TrainOutcome:
    """A new version that keeps the rest of the model: removed entries' chunks go, added entries are
    fetched and only their new text is embedded. Adding an entry the model has already refreshes it."""
    settings = settings or get_settings()
    store = store or default_store(settings)
    base = _trained(current(store, model_name), model_name)
    manifest = base.manifest
    assert manifest is not None
    added = check_file_list(add) if add else []
    removed = set(check_file_list(remove)) if remove else set()
    if not added and not removed:
        raise InvalidRequest("give sources to add or to remove")
    unknown = [entry for entry in removed if entry not in {r.entry for r in manifest.sources}]
    if unknown:
        raise InvalidRequest(f"not a source of model {model_name!r}: {entry_label(unknown[0])}")
    info = manifest.embedding
    embedder = embedder or make_embedder(settings, info.provider, info.model, info.dim)
    previous = load_previous(store, manifest, embedder)  # the kept chunks come from here: it must be readable
    kept_records = [r for r in manifest.sources if r.entry not in removed and r.entry not in added]
    kept_sources = {d["source"] for r in kept_records for d in r.documents}
    kept = [c for c in previous.chunks if c.source in kept_sources]
    new_records, new_chunks = ingest(added, settings, progress) if added else ([], [])
    if added and not new_chunks:
        raise _no_text(new_records, "none of the added sources could be used")
    chunks = kept + [c for c in new_chunks if c.source not in kept_sources]
    if not chunks:
        raise TrainingFailed("removing these sources would leave the model empty; delete the model instead")
    records = kept_records + new_records
    return _build(store, model_name, base, records, chunks, previous, manifest.prompt, embedder, settings, progress)


def _build(
    store: ArtifactStore,
    model_name: str,
    base: Current,
    records: list[SourceRecord],
    chunks: list[Chunk],
    previous: PreviousVersion,
    prompt: str | None,
    embedder: Embedder,
    settings: Settings,
    progress: Progress | None,
) -> TrainOutcome:
    """Embed what is new, build the indexes and publish them over `base`.

    The artifacts are written batch by batch into files in a working folder and published from there,
    so neither all the vectors nor the artifacts' bytes are ever held in memory at once."""
    with tempfile.TemporaryDirectory(dir=settings.work_dir, prefix="cdgpt-build-") as work, ExitStack() as mapped:
        with metering() as used:
            used.embedding_model = embedder.model
            try:
                built = write_artifacts(Path(work), chunks, embedder, previous, settings, progress)
            except DimensionChanged:  # the server's dimension changed: embed everything
                built = write_artifacts(Path(work), chunks, embedder, NO_PREVIOUS, settings, progress)
        if progress:
            progress("publishing", 0, 1)
        artifacts: dict[str, tuple[str, Blob]] = {
            name: (path.name, mapped.enter_context(_mapped(path))) for name, path in built.files.items()
        }
        return _publish(store, model_name, base, records, artifacts, built, prompt, embedder, settings, used)


@dataclass(frozen=True)
class Built:
    files: dict[str, Path]  # artifact name -> its file
    chunks: int
    dim: int
    embedded: int


def write_artifacts(
    folder: Path,
    chunks: list[Chunk],
    embedder: Embedder,
    previous: PreviousVersion,
    settings: Settings,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> Built:
    """The vector index, lexical index and docstore of these chunks, written into folder batch by batch."""
    from cdgpt.index.vectors import VectorIndexBuilder

    files = {
        "index": folder / "index.faiss",
        "lexical": folder / "lexical.npz",
        "docstore": folder / "docstore.jsonl",
        "docstore_index": folder / "docstore.npz",
    }
    vectors = VectorIndexBuilder(len(chunks), settings.exact_search_max_mb)
    lexical = LexicalBuilder()
    docstore = DocstoreWriter(files["docstore"])
    report = (lambda n: progress("embedding", n, len(chunks))) if progress else None
    embedded = 0
    for start, (part, fresh) in zip(
        range(0, len(chunks), batch), embed_batches(chunks, embedder, previous, batch, report), strict=True
    ):
        batch_chunks = chunks[start : start + batch]
        vectors.add(part)
        lexical.add(c.context for c in batch_chunks)
        docstore.add(asdict(c) for c in batch_chunks)
        embedded += fresh
    docstore.finish(files["docstore_index"])
    files["lexical"].write_bytes(lexical.finish().to_bytes())
    dim = vectors.dim
    vectors.write(files["index"])
    return Built(files, len(chunks), dim, embedded)


@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap]:
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        yield data


def _publish(
    store: ArtifactStore,
    model_name: str,
    base: Current,
    records: list[SourceRecord],
    artifacts: dict[str, tuple[str, Blob]],
    built: Built,
    prompt: str | None,
    embedder: Embedder,
    settings: Settings,
    used: Usage,
) -> TrainOutcome:
    embedded = built.embedded
    documents = [d for r in records for d in r.documents]
    manifest = publish(
        store,
        model_name,
        base,
        artifacts,
        embedding=EmbeddingInfo(provider=embedder.provider, model=embedder.model, dim=built.dim),
        prompt=prompt,
        counts={
            "sources": len(records),
            "sources_failed": sum(1 for r in records if r.status == "failed"),
            "documents": sum(1 for d in documents if "reason" not in d),
            "documents_failed": sum(1 for d in documents if "reason" in d),
            "chunks": built.chunks,
            "chunks_embedded": embedded,
            "documents_unchanged": sum(1 for d in documents if d.get("unchanged")),
        },
        chunking=_chunking(settings),
        sources=records,
    )
    add_usage(store, model_name, used, trainings=1)
    return TrainOutcome(
        model_name=model_name,
        version=manifest.version,
        version_id=manifest.version_id,
        sizes=manifest.sizes,
        documents=manifest.counts["documents"],
        chunks=manifest.counts["chunks"],
        chunks_embedded=embedded,
        documents_unchanged=manifest.counts["documents_unchanged"],
        sources=[r.model_copy(update={"documents": []}) for r in records],
        usage=used,
    )
