"""Ingestion: file_list entries → documents (fetched in parallel) → text → chunks, with a record of each.

A failing document is recorded with its reason and skipped; an entry fails only when none of its
documents could be used.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cdgpt.errors import CdgptError, PayloadTooLarge
from cdgpt.ingest.chunking import Chunk, chunk_document
from cdgpt.ingest.extract import extract
from cdgpt.ingest.sources import SourceDocument, expand_entry
from cdgpt.limits import MAX_DOCUMENTS
from cdgpt.models.registry import SourceRecord
from cdgpt.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentResult:
    record: dict[str, Any]  # {source, title, sha256, bytes, chunks}, or {source, reason} when it failed
    chunks: list[Chunk]


def _reason(exc: Exception) -> str:
    if isinstance(exc, CdgptError):
        return str(exc)
    log.exception("unexpected failure reading a source")  # one bad source must not sink the others
    return "internal error reading this source"


def _expand(entry: str, settings: Settings) -> list[SourceDocument] | str:
    """The entry's documents, or the reason it cannot be used at all."""
    try:
        return expand_entry(entry, settings)
    except Exception as exc:
        return _reason(exc)


def _ingest(document: SourceDocument, settings: Settings) -> DocumentResult:
    """Fetch, extract and chunk one document; a failure becomes its record's reason."""
    try:
        raw = document.load()
        doc = extract(raw)
        chunks = chunk_document(doc, settings.chunk_chars, settings.chunk_overlap_chars)
    except Exception as exc:
        return DocumentResult({"source": document.source, "reason": _reason(exc)}, [])
    digest = hashlib.sha256(raw.content).hexdigest()
    record = {
        "source": doc.source,
        "title": doc.title,
        "sha256": digest,
        "bytes": len(raw.content),
        "chunks": len(chunks),
    }
    return DocumentResult(record, chunks)


def _entry_record(entry: str, results: list[DocumentResult]) -> SourceRecord:
    failed = [r.record for r in results if "reason" in r.record]
    documents = [r.record for r in results]
    if not failed:
        return SourceRecord(entry=entry, status="ok", documents=documents)
    first = failed[0]["reason"] if len(results) == 1 else f"{failed[0]['source']}: {failed[0]['reason']}"
    if len(failed) == len(results):
        reason = first if len(results) == 1 else f"none of its {len(results)} documents could be used (first: {first})"
        return SourceRecord(entry=entry, status="failed", reason=reason, documents=documents)
    reason = f"{len(failed)} of {len(results)} documents skipped (first: {first})"
    return SourceRecord(entry=entry, status="ok", reason=reason, documents=documents)


def _without_repeats(expanded: list[list[SourceDocument] | str]) -> list[list[SourceDocument] | str]:
    """Each document once: an earlier entry that names it (a folder, then a file in it) keeps it."""
    seen: set[str] = set()
    kept: list[list[SourceDocument] | str] = []
    for found in expanded:
        if isinstance(found, list):
            found = [d for d in found if d.source not in seen]
            seen.update(d.source for d in found)
        kept.append(found)
    return kept


def ingest(
    entries: list[str], settings: Settings, progress: Callable[[str, int, int], None] | None = None
) -> tuple[list[SourceRecord], list[Chunk]]:
    """Every entry's record, and the chunks of all its documents, in file_list order."""
    with ThreadPoolExecutor(max_workers=settings.fetch_workers) as pool:
        expanded = _without_repeats(list(pool.map(lambda e: _expand(e, settings), entries)))
        documents = [d for found in expanded if isinstance(found, list) for d in found]
        if len(documents) > MAX_DOCUMENTS:
            raise PayloadTooLarge(f"the sources hold more than {MAX_DOCUMENTS} documents")
        results = []
        for result in pool.map(lambda d: _ingest(d, settings), documents):
            results.append(result)
            if progress:
                progress("fetching", 1, len(documents))
    records: list[SourceRecord] = []
    chunks: list[Chunk] = []
    done = iter(results)
    for entry, found in zip(entries, expanded, strict=True):
        if isinstance(found, str):
            records.append(SourceRecord(entry=entry, status="failed", reason=found))
            continue
        if not found:
            records.append(SourceRecord(entry=entry, status="ok", reason="already included by an earlier entry"))
            continue
        mine = [next(done) for _ in found]
        records.append(_entry_record(entry, mine))
        chunks.extend(chunk for result in mine for chunk in result.chunks)
    return records, chunks
