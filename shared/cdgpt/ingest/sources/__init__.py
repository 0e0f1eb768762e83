"""Sources: a `file_list` entry in, raw documents (bytes + metadata) out.

An entry is an http(s) URL, an `s3://bucket/key` object or `s3://bucket/prefix/`, or a local path
inside the configured source root. Prefixes and folders expand to one document per object or file,
a sitemap to one per page it lists, and a crawl entry (`entries.CrawlEntry`) to the pages it reached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cdgpt.errors import SourceRefused
from cdgpt.ingest.sources.entries import CrawlEntry, Seen
from cdgpt.limits import MAX_ENTRY_CHARS
from cdgpt.settings import Settings


@dataclass(frozen=True)
class RawDocument:
    source: str  # the file_list entry (or, for an expanded prefix/folder, the object's own entry)
    content: bytes
    content_type: str | None  # MIME type when the source declares one
    name: str  # file name or URL path, used to guess the type and as a fallback title
    etag: str | None = None  # validators for the next training's conditional request (HTTP, S3)
    last_modified: str | None = None
    url: str | None = None  # for URLs: where the last redirect landed
    located: str | None = None  # for local files: where it really is (links resolved), relative to the source root


@dataclass(frozen=True)
class SourceDocument:
    """One document an entry names, fetched only when `load` is called (so one failure stays its own)."""

    source: str
    load: Callable[[], RawDocument]
    depth: int | None = None  # a crawled page: links followed from the start page (kept for the next crawl)
    unreachable: str | None = None  # why it cannot be fetched now (its entry could not be listed): `load` raises it
    aliases: tuple[str, ...] = ()  # a crawled page's other URLs the crawl met (redirects, canonical links)


class NotModified(Exception):
    """Raised by `load` when the source says the document is unchanged since the last training."""


def is_hidden(relative_path: str) -> bool:
    """Dot-files and anything in a dot-folder (.git/, .env, .DS_Store) are not documents."""
    return any(part.startswith(".") and part != "." for part in relative_path.split("/"))


Listing = Callable[[int], None]  # told of each batch of pages a crawl or sitemaps list; may raise to stop them


def expand_entry(
    entry: str | CrawlEntry, settings: Settings, seen: Mapping[str, Seen] | None = None, listing: Listing | None = None
) -> list[SourceDocument]:
    """The documents one file_list entry names; raise SourceRefused or SourceFailed for the whole entry.

    `seen` holds what the current model knows of its documents, for conditional requests. `listing` is
    called as a crawl or a sitemap index lists pages (the worker's deadline: what it raises goes through).
    """
    if isinstance(entry, CrawlEntry):
        from cdgpt.ingest.sources.crawl import crawl

        return crawl(entry, settings, seen or {}, listing)
    if not entry or len(entry) > MAX_ENTRY_CHARS or any(ord(c) < 32 for c in entry):
        raise SourceRefused("source must be a non-empty string of at most 2048 printable characters")
    scheme = entry.split(":", 1)[0].lower() if "://" in entry else ""
    if scheme in ("http", "https"):
        from cdgpt.ingest.sources.url import expand_url

        return expand_url(entry, settings, seen, listing)
    if scheme == "s3":
        from cdgpt.ingest.sources.s3 import expand_s3

        return expand_s3(entry, settings, seen)
    if scheme:
        raise SourceRefused(f"unsupported scheme {scheme!r}: use http(s)://, s3:// or a path")
    from cdgpt.ingest.sources.local import expand_local

    return expand_local(entry, settings)


def load_entry(entry: str | CrawlEntry, settings: Settings) -> list[RawDocument]:
    """Every document of one entry, fetched now; the first failure raises."""
    return [document.load() for document in expand_entry(entry, settings)]
