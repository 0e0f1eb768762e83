"""Ingestion: file_list entries → documents (fetched in parallel) → text → chunks, with a record of each.

A failing document is recorded with its reason and skipped; an entry fails only when none of its
documents could be used. Documents are fetched by threads and extracted on every core (`workers`);
a bounded window of them is in flight, each holding its raw bytes only until it is extracted.
Their results are taken in file_list order against the training's budget of text and chunks: the
first document that does not fit, and every one after it, is skipped, so the outcome does not depend
on which document finished first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cdgpt.errors import CdgptError, PayloadTooLarge
from cdgpt.ingest.chunking import Chunk
from cdgpt.ingest.extract import Limits
from cdgpt.ingest.incremental import Previous
from cdgpt.ingest.sources import NotModified, SourceDocument, expand_entry
from cdgpt.ingest.sources.entries import Entry
from cdgpt.ingest.sources.scope import Scope, within
from cdgpt.ingest.workers import Config, Extractors
from cdgpt.limits import MAX_DOCUMENTS, usable_cpus
from cdgpt.models.registry import SourceRecord
from cdgpt.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, advance, total); it may raise to stop the training

MIN_DOCUMENTS_FOR_WORKERS = 4
OUTSIDE = "outside the sources the training's key may train from"
ALREADY_INCLUDED = "already included by an earlier entry"  # the reason of an entry whose documents another has


@dataclass(frozen=True)
class DocumentResult:
    record: dict[str, Any]  # {source, title, sha256, bytes, chunks}, or {source, reason} when it failed
    chunks: list[Chunk]
    chars: int = 0  # characters of text extracted


class TrainingBudget:
    """The text and chunks one training may hold; once a document does not fit, it is used up."""

    def __init__(self, settings: Settings) -> None:
        self.max_chars, self.max_chunks = settings.max_training_chars, settings.max_training_chunks
        self.chars = self.chunks = 0
        self.used_up: str | None = None  # the reason every later document is skipped

    def admit(self, result: DocumentResult) -> DocumentResult:
        if "reason" in result.record and not self.used_up:
            return result
        if not self.used_up and self.chars + result.chars > self.max_chars:
            self.used_up = (
                f"the training's text budget of {self.max_chars} characters is used up (CDGPT_MAX_TRAINING_CHARS)"
            )
        elif not self.used_up and self.chunks + len(result.chunks) > self.max_chunks:
            self.used_up = f"the training's budget of {self.max_chunks} chunks is used up (CDGPT_MAX_TRAINING_CHUNKS)"
        if self.used_up:
            return DocumentResult({"source": result.record["source"], "reason": self.used_up}, [])
        self.chars += result.chars
        self.chunks += len(result.chunks)
        return result


def _reason(exc: Exception) -> str:
    if isinstance(exc, CdgptError):
        return str(exc)
    log.exception("unexpected failure reading a source")  # one bad source must not sink the others
    return "internal error reading this source"


def _expand(
    entry: Entry, settings: Settings, previous: Previous, progress: Progress | None
) -> list[SourceDocument] | str:
    """The entry's documents, or the reason it cannot be used at all. A crawl or sitemap index reports
    each batch it lists to `progress` (stage "listing"); what that raises (the worker's deadline, a job
    taken away) ends the training, not just this entry."""
    stopped: list[BaseException] = []

    def listing(pages: int) -> None:
        try:
            if progress:
                progress("listing", 0, pages)
        except BaseException as exc:
            stopped.append(exc)
            raise

    if (known := previous.known_unreachable(entry)) is not None:
        return known
    try:
        return expand_entry(entry, settings, previous.seen_by(entry), listing if progress else None)
    except Exception as exc:
        if stopped:
            raise stopped[0] from None
        if (documents := previous.unavailable_entry(entry, exc)) is not None:
            return documents
        return _reason(exc)


class _Listed:
    """The documents the entries expanded to so far: once over MAX_DOCUMENTS, no entry is expanded further
    (the training is refused anyway), so a file_list that names one big folder many ways stops early."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    @property
    def over(self) -> bool:
        return self.count > MAX_DOCUMENTS

    def expand(
        self, entry: Entry, settings: Settings, previous: Previous, progress: Progress | None
    ) -> list[SourceDocument] | str:
        if self.over:
            return f"not listed: the sources hold more than {MAX_DOCUMENTS} documents"
        found = _expand(entry, settings, previous, progress)
        if isinstance(found, list):
            with self._lock:
                self.count += len(found)
        return found


def _ingest(
    document: SourceDocument, scope: Scope, extractors: Extractors, budget: TrainingBudget, previous: Previous
) -> DocumentResult:
    """Fetch, extract and chunk one document (or reuse it unchanged); a failure becomes its record's reason.
    With a scope (the training key's sources), a document from elsewhere, or redirected elsewhere, is skipped."""
    if budget.used_up:  # nothing after this document can be kept: do not fetch it
        return DocumentResult({"source": document.source, "reason": budget.used_up}, [])
    if not within(document.source, scope):
        return DocumentResult({"source": document.source, "reason": OUTSIDE}, [])
    try:
        raw = document.load()
    except NotModified:
        raw = None
    except Exception as exc:
        if kept := previous.kept_through(document, exc):
            return _as_before(*kept)
        return DocumentResult({"source": document.source, "reason": _reason(exc)}, [])
    if raw is not None and (landed := raw.url or raw.located) and not within(landed, scope):
        how = "redirected to" if raw.url else "a link to"
        return DocumentResult({"source": document.source, "reason": f"{how} {landed[:300]}, {OUTSIDE}"}, [])
    digest = hashlib.sha256(raw.content).hexdigest() if raw else None
    if kept := previous.reuse(document, raw, digest):
        return _as_before(*kept)
    if raw is None:
        reason = "unchanged since the last training, but the model lacks its text: retrain it"
        return DocumentResult({"source": document.source, "reason": reason}, [])
    size = len(raw.content)
    found: dict[str, Any] = {"etag": raw.etag, "last_modified": raw.last_modified, "depth": document.depth}
    found["aliases"] = list(document.aliases) or None  # a crawled page's other URLs, asked for conditionally
    outcome = extractors.run(raw)
    source = raw.source
    del raw  # the bytes are not needed past extraction
    if outcome.reason is not None:
        return DocumentResult({"source": document.source, "reason": outcome.reason}, [])
    record = {"source": source, "title": outcome.title, "sha256": digest, "bytes": size, "chunks": len(outcome.chunks)}
    record |= {key: value for key, value in found.items() if value is not None}
    return DocumentResult(record, outcome.chunks, outcome.chars)


def _as_before(record: dict[str, Any], chunks: list[Chunk]) -> DocumentResult:
    """A document taken from the version before (unchanged, or kept as it was)."""
    return DocumentResult(record, chunks, sum(len(c.text) for c in chunks))


def _config(settings: Settings) -> Config:
    limits = Limits(
        pages=settings.max_document_pages,
        chars=settings.max_document_chars,
        chunks=settings.max_document_chunks,
        cpu_s=settings.max_document_cpu_s,
    )
    return Config(settings.chunk_chars, settings.chunk_overlap_chars, limits)


def _ingest_all(
    documents: list[tuple[SourceDocument, Scope]],
    settings: Settings,
    progress: Progress | None,
    reusable: Mapping[tuple[str, ...] | None, Previous],
) -> list[DocumentResult]:
    """Every document's result, in order, with a bounded number in flight."""
    processes = settings.extract_processes
    if processes is None:  # one per CPU; with one CPU, or a few documents, extraction stays in this process
        cpus = usable_cpus()
        processes = cpus if cpus > 1 and len(documents) >= MIN_DOCUMENTS_FOR_WORKERS else 0
    processes = min(processes, len(documents))
    budget = TrainingBudget(settings)
    results: list[DocumentResult] = []
    pending: deque[Future[DocumentResult]] = deque()

    def take_oldest() -> None:
        results.append(budget.admit(pending.popleft().result()))
        if progress:
            progress("fetching", 1, len(documents))

    if progress:  # how many there are, before the first (maybe slow) one is fetched
        progress("fetching", 0, len(documents))
    with Extractors(_config(settings), processes) as extractors, ThreadPoolExecutor(settings.fetch_workers) as pool:
        for document, scope in documents:
            pending.append(pool.submit(_ingest, document, scope, extractors, budget, reusable[_key(scope)]))
            if len(pending) >= 2 * settings.fetch_workers:
                take_oldest()
        while pending:
            take_oldest()
    return results


def _entry_record(entry: Entry, results: list[DocumentResult]) -> SourceRecord:
    documents = [r.record for r in results]
    failed = [r for r in documents if "reason" in r]
    kept = [r for r in documents if "kept" in r]

    def first(records: list[dict[str, Any]], key: str) -> str:
        return records[0][key] if len(results) == 1 else f"{records[0]['source']}: {records[0][key]}"

    if failed and len(failed) == len(results):
        reason = first(failed, "reason")
        if len(results) > 1:
            reason = f"none of its {len(results)} documents could be used (first: {reason})"
        return SourceRecord(entry=entry, status="failed", reason=reason, documents=documents)
    notes = []
    if failed:
        notes.append(f"{len(failed)} of {len(results)} documents skipped (first: {first(failed, 'reason')})")
    if kept:
        notes.append(
            f"{len(kept)} of {len(results)} documents could not be fetched and were kept as they were "
            f"(first: {first(kept, 'kept')})"
        )
    return SourceRecord(entry=entry, status="ok", reason="; ".join(notes) or None, documents=documents)


def _key(scope: Scope) -> tuple[str, ...] | None:
    return None if scope is None else tuple(scope)


def _without_repeats(
    expanded: list[list[SourceDocument] | str], scopes: list[Scope]
) -> list[list[SourceDocument] | str]:
    """Each document once: an earlier entry that names it (a folder, then a file in it) keeps it, unless it is
    outside that entry's scope (refused there, it is read for the entry after it that may)."""
    seen: set[str] = set()
    return [
        unclaimed(found, scope, seen) if isinstance(found, list) else found
        for found, scope in zip(expanded, scopes, strict=True)
    ]


def unclaimed(documents: list[SourceDocument], scope: Scope, seen: set[str]) -> list[SourceDocument]:
    """The entry's documents no earlier entry claimed (`seen`); it claims those within its scope."""
    left = [d for d in documents if d.source not in seen]
    seen.update(d.source for d in left if within(d.source, scope))
    return left


def ingest(
    entries: list[Entry],
    settings: Settings,
    progress: Progress | None = None,
    previous: Previous | None = None,
    scopes: Sequence[Scope] | None = None,
) -> tuple[list[SourceRecord], list[Chunk]]:
    """Every entry's record, and the chunks of all its documents, in file_list order.

    With `previous` (the current model's documents), unchanged documents are reused (see incremental.py).
    `scopes` holds each entry's scope: the sources its documents must come from (None: any).
    """
    scopes = list(scopes) if scopes is not None else [None] * len(entries)
    previous = previous or Previous()
    reusable = {_key(scope): previous.under(scope) for scope in scopes}  # what each scope's entries may reuse
    listed = _Listed()
    with ThreadPoolExecutor(max_workers=settings.fetch_workers) as pool:
        expansions = list(
            pool.map(lambda e, scope: listed.expand(e, settings, reusable[_key(scope)], progress), entries, scopes)
        )
    expanded = _without_repeats(expansions, scopes)
    documents = [
        (d, scope) for found, scope in zip(expanded, scopes, strict=True) if isinstance(found, list) for d in found
    ]
    if listed.over or len(documents) > MAX_DOCUMENTS:
        raise PayloadTooLarge(f"the sources hold more than {MAX_DOCUMENTS} documents")
    results = _ingest_all(documents, settings, progress, reusable) if documents else []
    records: list[SourceRecord] = []
    chunks: list[Chunk] = []
    done = iter(results)
    for entry, found, scope in zip(entries, expanded, scopes, strict=True):
        if isinstance(found, str):
            records.append(SourceRecord(entry=entry, status="failed", reason=found, within=scope))
            continue
        if not found:
            records.append(SourceRecord(entry=entry, status="ok", reason=ALREADY_INCLUDED, within=scope))
            continue
        mine = [next(done) for _ in found]
        records.append(_entry_record(entry, mine).model_copy(update={"within": scope}))
        chunks.extend(chunk for result in mine for chunk in result.chunks)
    return records, chunks
