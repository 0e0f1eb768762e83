"""Retraining without reading again what has not changed.

The current model's manifest records each document's sha256 and, when its source gave them, its ETag
and Last-Modified (and a crawled page's depth); its docstore holds the document's chunks. Sources are
asked conditionally with those validators: a 304, an S3 ETag that still matches, or content with the
same sha256 reuses the document's record and chunks, without downloading it (the first two) or
parsing it. This holds only while the chunking settings and the extraction version are the model's.

A retraining of the model's own sources (the schedule's) also keeps a document that cannot be reached now
(`SourceUnavailable`: a site down, a timeout, S3 refusing) as it was, marked `kept`, where a training of
a file_list drops it: nothing a night's outage takes is lost, and the job says what was kept and why. One
kept for KEEP_DAYS (`kept_since`) goes: a document that stays out of reach (a retired host, an object S3
hides behind AccessDenied) is gone, not down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from cdgpt.errors import SourceUnavailable
from cdgpt.ingest.chunking import Chunk, chunk_from_record
from cdgpt.ingest.sources import RawDocument, SourceDocument
from cdgpt.ingest.sources.entries import CrawlEntry, Entry, Seen
from cdgpt.ingest.sources.scope import Scope

if TYPE_CHECKING:
    from cdgpt.index.docstore import Docstore
    from cdgpt.models.registry import Manifest


KEEP_DAYS = 14  # how long a retraining keeps a document it cannot reach
KEPT = ("kept", "kept_since")  # a kept document's marks, not carried into a record of it fetched again


@dataclass(frozen=True)
class PreviousDocument:
    record: dict[str, Any]  # {source, title, sha256, bytes, chunks, etag?, last_modified?, depth?, aliases?}
    rows: tuple[int, ...]  # its chunks' rows in the version's docstore
    kept_since: str | None = None  # the day (ISO) it was first kept as it was, when it was
    within: list[str] | None = None  # the scope it was read under (its entry's): reused only under the same


class Previous:
    """The current model's documents, by source; their chunks are read from its docstore when reused."""

    def __init__(
        self,
        documents: dict[str, PreviousDocument] | None = None,
        docstore: Docstore | None = None,
        entries: dict[Entry, tuple[str, ...]] | None = None,
        keep_unavailable: bool = False,
        unreachable: Mapping[str, str] | None = None,
    ) -> None:
        self.documents = documents or {}
        self.docstore = docstore
        self.entries = entries or {}  # each file_list entry's documents
        self.keep_unavailable = keep_unavailable
        self.unreachable = unreachable or {}  # documents known unreachable already (a sharded plan's), and why
        self.seen = {
            source: Seen(d.record.get("etag"), d.record.get("last_modified"), d.record.get("depth"))
            for source, d in self.documents.items()
        }
        # a crawled page's other URLs, asked by a crawl with the page's ETag: If-Modified-Since would take any
        # page not changed since that date for it, and an If-None-Match answers 304 only for the page's ETag
        self.aliases = {
            alias: Seen(d.record["etag"], alias_of=source)
            for source, d in self.documents.items()
            if d.record.get("etag")
            for alias in d.record.get("aliases", ())
            if alias not in self.documents
        }

    def seen_by(self, entry: Entry) -> Mapping[str, Seen]:
        """What the entry's listing may ask conditionally: a crawl also asks the pages' aliases."""
        return self.seen | self.aliases if isinstance(entry, CrawlEntry) and self.aliases else self.seen

    def reuse(
        self, document: SourceDocument, raw: RawDocument | None, sha256: str | None = None
    ) -> tuple[dict[str, Any], list[Chunk]] | None:
        """The document's previous record and chunks when it is unchanged: raw is None (the source said so),
        or its content has the recorded sha256. The record takes the new validators and depth."""
        known = self.documents.get(document.source)
        if known is None or (raw is not None and known.record.get("sha256") != sha256):
            return None
        record = {**known.record, "unchanged": True}
        if raw is not None:
            record |= {"etag": raw.etag, "last_modified": raw.last_modified}
        if document.depth is not None:  # a crawled page: where this crawl found it
            record |= {"depth": document.depth, "aliases": list(document.aliases) or None}
        return {k: v for k, v in record.items() if v is not None}, self._chunks(known)

    def kept_through(self, document: SourceDocument, exc: Exception) -> tuple[dict[str, Any], list[Chunk]] | None:
        """The document as it was, when it cannot be reached now and this training keeps such."""
        known = self.documents.get(document.source)
        if not self.keep_unavailable or known is None or not isinstance(exc, SourceUnavailable):
            return None
        today = datetime.now(UTC).date()
        since = known.kept_since or today.isoformat()
        if date.fromisoformat(since) < today - timedelta(days=KEEP_DAYS):
            return None  # out of reach for too long: gone
        record = {k: v for k, v in known.record.items() if k != "unchanged"}  # kept, not reused as unchanged
        return record | {"kept": str(exc), "kept_since": since}, self._chunks(known)

    def unavailable_entry(self, entry: Entry, exc: Exception) -> list[SourceDocument] | None:
        """An entry that cannot be listed now, as its documents of the version before, each failing as it did
        (so each is kept, and recorded, as one that cannot be fetched)."""
        if not self.keep_unavailable or not isinstance(exc, SourceUnavailable) or not self.entries.get(entry):
            return None

        kept = [_unreachable(source, exc) for source in self.entries[entry] if source in self.documents]
        return kept or None  # nothing of it to keep: the entry fails, as it does

    def known_unreachable(self, entry: Entry) -> list[SourceDocument] | None:
        """A document whose entry could not be listed when a sharded training was planned: kept as it was
        without asking its source again (a host that stalls would hold each of them up to its timeout)."""
        if not isinstance(entry, str) or entry not in self.unreachable or entry not in self.documents:
            return None
        return [_unreachable(entry, SourceUnavailable(self.unreachable[entry]))] if self.keep_unavailable else None

    def under(self, scope: Scope) -> Previous:
        """The documents an entry of this scope may reuse: any with none (the service may read anything), else
        only those read under the same scope. A document read before a scope was set, or under another, is
        asked for again without validators and read again, not reused because it answers 304."""
        if scope is None:
            return self
        documents = {s: d for s, d in self.documents.items() if d.within == scope}
        return Previous(documents, self.docstore, self.entries, self.keep_unavailable, self.unreachable)

    def keeping(self, keep_unavailable: bool, unreachable: Mapping[str, str] | None = None) -> Previous:
        """The same documents, keeping unavailable ones or not (and these known unreachable)."""
        if keep_unavailable == self.keep_unavailable and not unreachable and not self.unreachable:
            return self
        return Previous(self.documents, self.docstore, self.entries, keep_unavailable, unreachable)

    def _chunks(self, known: PreviousDocument) -> list[Chunk]:
        assert self.docstore is not None
        return [chunk_from_record(self.docstore[i]) for i in known.rows]


def _unreachable(source: str, exc: Exception) -> SourceDocument:
    """A document that fails to load as `exc` says, without asking its source."""

    def load() -> RawDocument:
        raise exc

    return SourceDocument(source, load, unreachable=str(exc))


def listed_documents(manifest: Manifest | None, chunking: dict[str, int]) -> Previous:
    """The version's documents by entry, without their chunks, keeping unavailable ones: enough for a sharded
    retraining's plan to list an entry that cannot be listed now as its documents of before (none when the
    version was chunked otherwise: the shards could not keep them)."""
    if manifest is None or manifest.chunking != chunking:
        return Previous()
    documents = {
        d["source"]: PreviousDocument(d, (), within=record.within)
        for record in manifest.sources
        for d in record.documents
        if "source" in d and "reason" not in d
    }
    return Previous(documents, None, _entries(manifest), keep_unavailable=True)


def previous_documents(
    manifest: Manifest | None, docstore: Docstore | None, chunking: dict[str, int], keep_unavailable: bool = False
) -> Previous:
    """The current version's documents, if it was chunked (and extracted) as this training will be; a
    document whose chunks are not all in the docstore is read again."""
    if manifest is None or docstore is None or manifest.chunking != chunking:
        return Previous()
    order = np.argsort(docstore.document, kind="stable")  # rows grouped by document, in index order
    starts = np.searchsorted(docstore.document[order], np.arange(len(docstore.sources) + 1))
    rows = {source: order[starts[n] : starts[n + 1]] for n, source in enumerate(docstore.sources)}
    documents = {
        d["source"]: PreviousDocument(
            {k: v for k, v in d.items() if k not in KEPT},
            tuple(int(i) for i in rows[d["source"]]),
            d.get("kept_since"),
            record.within,
        )
        for record in manifest.sources
        for d in record.documents
        if "reason" not in d and d.get("source") in rows and len(rows[d["source"]]) == d.get("chunks")
    }
    return Previous(documents, docstore, _entries(manifest), keep_unavailable)


def _entries(manifest: Manifest) -> dict[Entry, tuple[str, ...]]:
    """Each file_list entry's documents, by their sources."""
    return {record.entry: tuple(d["source"] for d in record.documents if "source" in d) for record in manifest.sources}
