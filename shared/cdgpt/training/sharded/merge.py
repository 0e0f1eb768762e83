"""The merge: the shards' records put back together per file_list entry, and their chunks and vectors
streamed into one version's artifacts, shard by shard and batch by batch.

The docstore's lines are copied in order (each record written again as it was), the vectors are read
back from each shard's exact index into the version's index (exact or HNSW by its size), and BM25 is
built from the shards' term counts, since its weights depend on every chunk (the shards tokenized the
text, side by side). Nothing is embedded or tokenized again.
"""

from __future__ import annotations

import dataclasses
import mmap
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cdgpt.errors import TrainingFailed
from cdgpt.index.docstore import Docstore, read_docstore
from cdgpt.ingest.pipeline import (  # records made as ingest makes them
    ALREADY_INCLUDED,
    DocumentResult,
    _entry_record,
)
from cdgpt.ingest.sources.entries import CrawlEntry, entry_label
from cdgpt.ingest.sources.scope import within
from cdgpt.models.registry import EmbeddingInfo, SourceRecord
from cdgpt.models.store import ArtifactStore
from cdgpt.settings import Settings
from cdgpt.training.pipeline import BATCH, ArtifactWriter, Built, mapped
from cdgpt.training.sharded.files import SHARD_FILES, Plan, ShardResult, shard_key

if TYPE_CHECKING:
    from cdgpt.index.vectors import VectorIndex


@dataclass(frozen=True)
class Assembled:
    records: list[SourceRecord]  # one per file_list entry
    keep: list[np.ndarray]  # per shard, per chunk: whether the version keeps it


def assemble(plan: Plan, results: list[ShardResult]) -> Assembled:
    """Each file_list entry's record as one worker would have made it, and which chunks to keep: a
    document that an earlier entry brought already (a crawl may find what another entry names) is left
    out with its chunks, as ingest leaves it out."""
    seen: set[str] = set()
    documents: dict[int, list[dict[str, Any]]] = defaultdict(list)
    whole: dict[int, SourceRecord] = {}  # a crawl that brought no document: its record as ingest made it
    keep = []
    for shard, result in enumerate(results):
        rows: list[bool] = []
        for record, of in zip(result.records, result.of, strict=True):
            found = record.documents
            if not found and isinstance(plan.entries[of].entry, CrawlEntry):
                whole[of] = record
            elif not found and record.status == "failed":  # the document's own entry failed as a whole
                found = [{"source": entry_label(record.entry), "reason": record.reason}]
            for document in found:
                kept = document["source"] not in seen
                if within(document["source"], plan.entries[of].within):  # as ingest claims a document (not one
                    seen.add(document["source"])  # outside its entry's scope: a later entry may read it)
                rows.extend([kept] * (0 if "reason" in document else int(document["chunks"])))
                if kept:
                    documents[of].append(document)
        if len(rows) != result.chunks:
            raise RuntimeError(f"shard {shard}: its records count {len(rows)} chunks, its files {result.chunks}")
        keep.append(np.array(rows, dtype=bool))
    records = []
    for of, planned in enumerate(plan.entries):
        if planned.settled is not None:
            record = planned.settled
        elif of in whole:
            record = whole[of]
        elif documents[of]:
            record = _entry_record(planned.entry, [DocumentResult(d, []) for d in documents[of]])
        else:
            record = SourceRecord(entry=planned.entry, status="ok", reason=ALREADY_INCLUDED)
        records.append(record.model_copy(update={"within": planned.within}))
    return Assembled(records, keep)


def embedding_of(results: list[ShardResult]) -> EmbeddingInfo:
    """The embedder every shard used; TrainingFailed when they differ (the server changed mid-training)."""
    used = {(r.provider, r.model, r.dim) for r in results if r.chunks}
    if len(used) != 1:
        raise TrainingFailed(f"the shards were embedded differently ({sorted(used)}); train the model again")
    provider, model, dim = used.pop()
    return EmbeddingInfo(provider=provider, model=model, dim=dim)


def write_merged(
    store: ArtifactStore,
    job_id: str,
    assembled: Assembled,
    results: list[ShardResult],
    folder: Path,
    settings: Settings,
    progress: Callable[[int, int], None],
) -> Built:
    """The version's files, written into `folder` from every shard's kept chunks, in order; `results`
    give what the shards embedded."""
    total = int(sum(int(kept.sum()) for kept in assembled.keep))
    out = folder / "version"
    out.mkdir()
    writer = ArtifactWriter(out, total, settings.exact_search_max_mb)
    for shard, kept in enumerate(assembled.keep):
        if not kept.any():
            continue
        with _shard(store, job_id, shard, folder / "shard") as (docstore, vectors, terms):
            writer.add_terms(terms, kept)
            rows = np.flatnonzero(kept)
            for start in range(0, len(rows), BATCH):
                part = rows[start : start + BATCH]
                writer.add([docstore[i] for i in part], None, vectors.index.reconstruct_batch(part))
                progress(len(part), total)
    built = writer.finish()
    return dataclasses.replace(built, embedded=sum(r.embedded for r in results))


@contextmanager
def _shard(
    store: ArtifactStore, job_id: str, shard: int, folder: Path
) -> Iterator[tuple[Docstore, VectorIndex, mmap.mmap]]:
    """A shard's chunks, vectors and term counts, from local files (an S3 store's downloaded here, and
    removed after)."""
    from cdgpt.index.vectors import read_vector_index

    folder.mkdir(exist_ok=True)
    paths = {}
    for name in SHARD_FILES:
        path = store.file(shard_key(job_id, shard, name), folder / name)
        if path is None:
            raise TrainingFailed(f"shard {shard} of the training is missing its {name}")
        paths[name] = path
    try:
        with ExitStack() as files:
            text = files.enter_context(mapped(paths["docstore.jsonl"]))
            terms = files.enter_context(mapped(paths["terms.npz"]))
            docstore = read_docstore(text, paths["docstore.npz"].read_bytes())
            yield docstore, read_vector_index(paths["index.faiss"]), terms
    finally:
        for path in paths.values():
            if path.is_relative_to(folder):
                path.unlink(missing_ok=True)
