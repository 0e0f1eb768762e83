"""Retraining without reading again what has not changed.

The current model's manifest records each document's sha256 and, when its source gave them, its ETag
and Last-Modified (and a crawled page's depth); its docstore holds the document's chunks. Sources are
asked conditionally with those validators: a 304, an S3 ETag that still matches, or content with the
same sha256 reuses the document's record and chunks, without downloading it (the first two) or
parsing it. This holds only while the chunking settings and the extraction version are the model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdgpt.ingest.chunking import Chunk
from cdgpt.ingest.sources import RawDocument, SourceDocument
from cdgpt.ingest.sources.entries import Seen

if TYPE_CHECKING:
    from cdgpt.models.registry import Manifest


@dataclass(frozen=True)
class PreviousDocument:
    record: dict[str, Any]  # {source, title, sha256, bytes, chunks, etag?, last_modified?, depth?}
    chunks: tuple[Chunk, ...]


class Previous:
    """The current model's documents, by source."""

    def __init__(self, documents: dict[str, PreviousDocument] | None = None) -> None:
        self.documents = documents or {}
        self.seen = {
            source: Seen(d.record.get("etag"), d.record.get("last_modified"), d.record.get("depth"))
            for source, d in self.documents.items()
        }

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
        if document.depth is not None:
            record["depth"] = document.depth
        return {k: v for k, v in record.items() if v is not None}, list(known.chunks)


def previous_documents(manifest: Manifest | None, chunks: list[Chunk], chunking: dict[str, int]) -> Previous:
    """The current version's documents with their chunks, if it was chunked (and extracted) as this
    training will be; a document whose chunks are not all there is read again."""
    if manifest is None or manifest.chunking != chunking:
        return Previous()
    by_source: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_source.setdefault(chunk.source, []).append(chunk)
    documents = {
        d["source"]: PreviousDocument(d, tuple(by_source[d["source"]]))
        for record in manifest.sources
        for d in record.documents
        if "reason" not in d and d.get("source") in by_source and len(by_source[d["source"]]) == d.get("chunks")
    }
    return Previous(documents)
