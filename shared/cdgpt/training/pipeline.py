"""Training: sources → text → chunks → vectors → index → a new published model version.

Every training reads the model's current state first and publishes only over that same state, so a
training that overlaps another one, or a deletion, fails instead of overwriting it.
"""

from __future__ import annotations

import contextvars
import math
import mmap
import tempfile
import threading
from collections.abc import Buffer, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from cdgpt.errors import InvalidRequest, ModelDamaged, TrainingFailed
from cdgpt.index.background import measure
from cdgpt.index.docstore import DocstoreWriter
from cdgpt.index.embeddings import Embedder, make_embedder
from cdgpt.index.lexical import LexicalBuilder
from cdgpt.index.terms import Counted, Vocabulary
from cdgpt.ingest.chunking import Chunk, chunk_record
from cdgpt.ingest.extract import EXTRACTION_VERSION
from cdgpt.ingest.incremental import Previous, previous_documents
from cdgpt.ingest.pipeline import ALREADY_INCLUDED, ingest
from cdgpt.ingest.sources.entries import CrawlEntry, Entry, entry_label, parse_entry
from cdgpt.ingest.sources.scope import Scope
from cdgpt.limits import MAX_PROMPT_CHARS, MAX_SOURCES
from cdgpt.models.registry import (
    Current,
    EmbeddingInfo,
    Manifest,
    SourceRecord,
    check_model_name,
    current,
    publish,
)
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
    documents_kept: int = 0  # could not be fetched now, kept as they were (a retraining)
    documents_dropped: int = 0  # the version before had them; this one has not
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
        raise state.not_found(name)
    return state


def chunking(settings: Settings) -> dict[str, int]:
    """How text becomes chunks: a previous version's documents are reused only when it matches."""
    return {"chars": settings.chunk_chars, "overlap": settings.chunk_overlap_chars, "extraction": EXTRACTION_VERSION}


def no_text(records: list[SourceRecord], what: str = "no source could be used") -> TrainingFailed:
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
    job_id: str | None = None,
    keep_unavailable: bool = False,
    within: Scope | Mapping[Entry, Scope] = None,
) -> TrainOutcome:
    """Train the model on exactly these sources (a new model, or a new version replacing the current one).
    With `keep_unavailable` (a retraining), a document that cannot be reached now is kept as it was.
    `within`: the sources the documents must come from (the training key's), or each entry's (a retraining)."""
    settings = settings or get_settings()
    check_model_name(model_name)
    entries = check_file_list(file_list)
    prompt = check_prompt(prompt)
    store = store or default_store(settings)
    embedder = embedder or make_embedder(settings)
    base = current(store, model_name)
    previous, unchanged = previous_for(store, base.manifest, embedder, settings, keep_unavailable)
    scopes = [within.get(entry) if isinstance(within, Mapping) else within for entry in entries]
    records, chunks = ingest(entries, settings, progress, unchanged, scopes)
    if not chunks:
        raise no_text(records)
    return _build(store, model_name, base, records, chunks, previous, prompt, embedder, settings, progress, job_id)


def previous_for(
    store: ArtifactStore,
    manifest: Manifest | None,
    embedder: Embedder,
    settings: Settings,
    keep_unavailable: bool = False,
) -> tuple[PreviousVersion, Previous]:
    """What a training takes from the version it replaces: its vectors by text, and its unchanged documents."""
    previous = reusable(store, manifest, embedder)
    return previous, previous_documents(manifest, previous.docstore, chunking(settings), keep_unavailable)


def retrain(
    model_name: str,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
    progress: Progress | None = None,
    job_id: str | None = None,
) -> TrainOutcome:
    """Train a model again on the sources and prompt its current manifest records."""
    settings = settings or get_settings()
    store = store or default_store(settings)
    entries, prompt, scopes = retrain_request(store, model_name)
    return train(
        model_name,
        entries,
        prompt,
        settings=settings,
        store=store,
        progress=progress,
        job_id=job_id,
        keep_unavailable=True,
        within=scopes,
    )


def retrain_request(store: ArtifactStore, model_name: str) -> tuple[list[Entry], str | None, dict[Entry, Scope]]:
    """The sources, prompt and each source's scope a retraining trains on: what the model's manifest records."""
    manifest = _trained(current(store, model_name), model_name).manifest
    assert manifest is not None
    return [r.entry for r in manifest.sources], manifest.prompt, {r.entry: r.within for r in manifest.sources}


def update_sources(
    model_name: str,
    add: Sequence[Entry],
    remove: Sequence[Entry],
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    job_id: str | None = None,
    within: Scope = None,
) -> TrainOutcome:
    """A new version that keeps the rest of the model: removed entries' chunks go, added entries are
    fetched (from `within`, the training key's sources, when given) and only their new text is embedded.
    Adding an entry the model has already refreshes it."""
    settings = settings or get_settings()
    store = store or default_store(settings)
    base = _trained(current(store, model_name), model_name)
    manifest = base.manifest
    assert manifest is not None
    added = check_file_list(add) if add else []
    removed = set(check_file_list(remove)) if remove else set()
    if not added and not removed:
        raise InvalidRequest("give sources to add or to remove")
    check_removable(model_name, manifest, removed)
    info = manifest.embedding
    embedder = embedder or make_embedder(settings, info.provider, info.model, info.dim)
    previous = load_previous(store, manifest, embedder)  # the kept chunks come from here: it must be readable
    kept_records = [r for r in manifest.sources if r.entry not in removed and r.entry not in added]
    kept_sources = {d["source"] for r in kept_records for d in r.documents if "reason" not in d}  # with chunks
    kept = [c for c in previous.chunks if c.source in kept_sources]
    new_records, new_chunks = ingest(added, settings, progress, scopes=[within] * len(added)) if added else ([], [])
    if added and not new_chunks:
        raise no_text(new_records, "none of the added sources could be used")
    chunks = kept + [c for c in new_chunks if c.source not in kept_sources]
    if not chunks:
        raise TrainingFailed("removing these sources would leave the model empty; delete the model instead")
    records = kept_records + [_without(record, kept_sources) for record in new_records]
    prompt = manifest.prompt
    return _build(store, model_name, base, records, chunks, previous, prompt, embedder, settings, progress, job_id)


def check_removable(model_name: str, manifest: Manifest, removed: Iterable[Entry]) -> None:
    """Each entry to remove is one of the model's (a crawl: with the same options); else InvalidRequest."""
    known = [record.entry for record in manifest.sources]
    for entry in removed:
        if entry in known:
            continue
        what = entry_label(entry)
        if isinstance(entry, CrawlEntry) and any(isinstance(k, CrawlEntry) and k.url == entry.url for k in known):
            what += " with these crawl options (the model crawls it with others: send its entry as the model lists it)"
        raise InvalidRequest(f"not a source of model {model_name!r}: {what}")


def _without(record: SourceRecord, kept_sources: set[str]) -> SourceRecord:
    """An added entry's record without the documents another entry of the model holds (whose chunks stand),
    as one training records an entry whose documents an earlier entry has: included already, if all are."""
    documents = [d for d in record.documents if d.get("source") not in kept_sources]
    if len(documents) == len(record.documents):
        return record
    if not documents:
        return SourceRecord(entry=record.entry, status="ok", reason=ALREADY_INCLUDED, within=record.within)
    return record.model_copy(update={"documents": documents})


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
    job_id: str | None,
) -> TrainOutcome:
    """Embed what is new, build the indexes and publish them over `base`.

    The artifacts are written batch by batch into files in a working folder and published from there,
    so neither all the vectors nor the artifacts' bytes are ever held in memory at once."""
    # the probes that publishing embeds (`index/background.py`) are counted too
    with tempfile.TemporaryDirectory(dir=settings.work_dir, prefix="cdgpt-build-") as work, metering() as used:
        used.embedding_model = embedder.model
        built = embed_and_write(Path(work), chunks, embedder, previous, settings, progress)
        if progress:
            progress("publishing", 0, 1)
        published = publish_built(store, model_name, base, records, built, prompt, embedder, settings, job_id)
    add_usage(store, model_name, used, trainings=1)
    return published.model_copy(update={"usage": used})


@dataclass(frozen=True)
class Built:
    files: dict[str, Path]  # artifact name -> its file
    chunks: int
    dim: int
    embedded: int


class ArtifactWriter:
    """A version's files written batch by batch: the vector index, the BM25 index and the docstore.

    A shard's (`shard`) hold its term counts (`terms.npz`) instead of a BM25 index, whose weights need
    every chunk: the merge adds them up (`add_terms`) rather than tokenizing the text again."""

    def __init__(self, folder: Path, total: int, exact_max_mb: float, *, shard: bool = False) -> None:
        from cdgpt.index.vectors import VectorIndexBuilder

        self.shard = shard
        self.files = {
            "index": folder / "index.faiss",
            "lexical": folder / ("terms.npz" if shard else "lexical.npz"),
            "docstore": folder / "docstore.jsonl",
            "docstore_index": folder / "docstore.npz",
        }
        self._vectors = VectorIndexBuilder(total, exact_max_mb)
        self._lexical = LexicalBuilder()
        self._docstore = DocstoreWriter(self.files["docstore"])
        self._chunks = self._embedded = 0
        self._texts_done = False

    def add(
        self,
        records: list[dict[str, Any]],
        terms: Sequence[Counted] | None,
        vectors: np.ndarray,
        embedded: int = 0,
    ) -> None:
        """The next chunks: their docstore records, their indexed texts' term counts (None: they come
        through `add_terms`), their vectors, and how many of those were embedded now."""
        self.add_texts(records, terms)
        self.add_vectors(vectors, embedded)

    def add_texts(self, records: list[dict[str, Any]], terms: Sequence[Counted] | None) -> None:
        """The next chunks' docstore records and term counts (their vectors may come later, in order)."""
        if terms is not None:
            self._lexical.add_counted(terms)
        self._docstore.add(records)
        self._chunks += len(records)

    def add_vectors(self, vectors: np.ndarray, embedded: int = 0) -> None:
        """The next chunks' vectors, and how many of those were embedded now."""
        self._vectors.add(vectors)
        self._embedded += embedded

    def add_terms(self, counts: Buffer, keep: np.ndarray) -> None:
        """The term counts of a shard's chunks (its `terms.npz`), of those `keep` marks."""
        self._lexical.extend(counts, keep)

    def finish_texts(self) -> None:
        """Write the docstore's index and the lexical file, once every chunk's text is in."""
        if self._texts_done:
            return
        self._docstore.finish(self.files["docstore_index"])
        lexical = self._lexical.counts_bytes() if self.shard else self._lexical.finish().to_bytes()
        self.files["lexical"].write_bytes(lexical)
        self._texts_done = True

    def finish(self) -> Built:
        dim = self._vectors.dim
        with ThreadPoolExecutor(1) as pool:  # Faiss writes without the GIL, while the other files are finished
            vectors = pool.submit(self._vectors.write, self.files["index"])
            self.finish_texts()
            vectors.result()
        return Built(self.files, self._chunks, dim, self._embedded)


def write_artifacts(
    folder: Path,
    chunks: list[Chunk],
    embedder: Embedder,
    previous: PreviousVersion,
    settings: Settings,
    progress: Progress | None = None,
    batch: int = BATCH,
    *,
    shard: bool = False,
) -> Built:
    """The vector index, lexical index and docstore of these chunks, written into folder batch by batch
    (a shard's: an exact index whatever its size, and term counts for the merge)."""
    exact = math.inf if shard else settings.exact_search_max_mb
    writer = ArtifactWriter(folder, len(chunks), exact, shard=shard)
    with ahead(lambda step: embed_batches(chunks, embedder, previous, batch, step)) as vectors:
        if progress:  # the stage begins now, not when its first batch is done (a job's stage, a bar's rate)
            progress("embedding", 0, len(chunks))
        # The texts' files need no vectors: they are written while the first batch is embedded.
        for start in range(0, len(chunks), batch):
            batch_chunks = chunks[start : start + batch]
            vocabulary = Vocabulary()  # for chunks that come without their counts (a previous version's)
            terms = [vocabulary.count(c.context) if c.terms is None else c.terms for c in batch_chunks]
            writer.add_texts([chunk_record(c) for c in batch_chunks], terms)
        writer.finish_texts()
        for part, fresh in vectors:
            writer.add_vectors(part, fresh)
            if progress:
                progress("embedding", len(part), len(chunks))
    return writer.finish()


class Abandoned(Exception):
    """The caller left `ahead`'s block: the item being made is not wanted."""


@contextmanager
def ahead[T](make: Callable[[Callable[[int], None]], Iterator[T]]) -> Iterator[Iterator[T]]:
    """The items `make` gives, each next one made on a thread while the caller uses this one (the first as
    soon as the block begins), in this context (usage metering, a request's deadline).

    `make` gets a callback for the steps of an item (an embedder's progress): once the caller has left the
    block it raises Abandoned, so leaving early waits for one step of the item being made, not all of it."""
    context = contextvars.copy_context()  # one thread runs in it at a time: the items are made in turn
    begun, left = threading.Event(), threading.Event()

    def step(_: int) -> None:
        if left.is_set():
            raise Abandoned

    items = make(step)

    def following() -> list[T]:  # the next item, none at the end
        begun.set()
        return list(islice(items, 1))

    with ThreadPoolExecutor(1, thread_name_prefix="cdgpt-ahead") as pool:
        pending = pool.submit(context.run, following)
        begun.wait()  # the first item is under way before the caller's work takes the GIL

        def taken() -> Iterator[T]:
            nonlocal pending
            while item := pending.result():
                pending = pool.submit(context.run, following)
                yield item[0]

        try:
            yield taken()
        finally:
            left.set()
            pending.cancel()


def embed_and_write(
    folder: Path,
    chunks: list[Chunk],
    embedder: Embedder,
    previous: PreviousVersion,
    settings: Settings,
    progress: Progress | None = None,
    **options: Any,
) -> Built:
    """`write_artifacts`, embedding everything again when the server's dimension changed."""
    try:
        return write_artifacts(folder, chunks, embedder, previous, settings, progress, **options)
    except DimensionChanged:
        return write_artifacts(folder, chunks, embedder, NO_PREVIOUS, settings, progress, **options)


@contextmanager
def mapped(path: Path) -> Iterator[mmap.mmap]:
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        yield data


def publish_built(
    store: ArtifactStore,
    model_name: str,
    base: Current,
    records: list[SourceRecord],
    built: Built,
    prompt: str | None,
    embedder: Embedder,
    settings: Settings,
    job_id: str | None = None,
) -> TrainOutcome:
    """Publish the files in `built` as the model's next version over `base` (uploaded from mappings), with
    how close off-topic questions come to its chunks (`index/background.py`)."""
    documents = [d for r in records for d in r.documents]
    had = {
        d["source"] for r in (base.manifest.sources if base.manifest else []) for d in r.documents if "reason" not in d
    }
    has = {d["source"] for d in documents if "reason" not in d}
    background = measure(built.files["index"], embedder)
    with ExitStack() as files:
        artifacts: dict[str, tuple[str, Blob]] = {
            name: (path.name, files.enter_context(mapped(path))) for name, path in built.files.items()
        }
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
                "chunks_embedded": built.embedded,
                "documents_unchanged": sum(1 for d in documents if d.get("unchanged")),
                "documents_kept": sum(1 for d in documents if "kept" in d),
                "documents_dropped": len(had - has),
            },
            chunking=chunking(settings),
            sources=records,
            job_id=job_id,
            background=background,
        )
    return outcome(manifest)


def outcome(manifest: Manifest) -> TrainOutcome:
    """What a published version reports."""
    return TrainOutcome(
        model_name=manifest.model_name,
        version=manifest.version,
        version_id=manifest.version_id,
        sizes=manifest.sizes,
        documents=manifest.counts["documents"],
        chunks=manifest.counts["chunks"],
        chunks_embedded=manifest.counts["chunks_embedded"],
        documents_unchanged=manifest.counts["documents_unchanged"],
        documents_kept=manifest.counts.get("documents_kept", 0),
        documents_dropped=manifest.counts.get("documents_dropped", 0),
        sources=[r.model_copy(update={"documents": []}) for r in manifest.sources],
    )
