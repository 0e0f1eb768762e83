"""Crawling a site from a crawl entry: breadth first, same scheme and host (and, by default, path),
robots.txt honoured, at most HOST_CONCURRENCY requests in flight to the host.

Every fetch goes through the guarded fetcher (`url.fetch_url`: the SSRF check on every connection and
redirect, size and time caps). A crawl discovers pages by fetching them, so it runs while its entry
is expanded and hands the pipeline documents whose content is already fetched (a page that failed
keeps its reason). A page is taken once: by its canonical URL (`<link rel=canonical>`, or where its
redirects landed) and by the hash of its content. With what the last training saw (`seen`), pages are
asked for conditionally, and the pages it reached are visited again (an unchanged page is not
downloaded, so its links come from the last crawl). A page's other URLs that the crawl met (links that
redirect to it or name it canonical) are kept with it, and asked for with its validators next time.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from posixpath import splitext
from urllib.parse import urlsplit

from cdgpt.errors import CdgptError, SourceFailed
from cdgpt.ingest.sources import Listing, NotModified, RawDocument, SourceDocument
from cdgpt.ingest.sources.entries import CrawlEntry, Seen
from cdgpt.ingest.sources.links import normalize, origin, page_links
from cdgpt.ingest.sources.robots import HostGate, Robots, host_gate
from cdgpt.ingest.sources.sitemap import is_sitemap, sitemap_pages
from cdgpt.ingest.sources.url import HttpUnavailable, fetch_url
from cdgpt.limits import HELD_CRAWL_BYTES, HOST_CONCURRENCY, MAX_CRAWL_BYTES
from cdgpt.settings import Settings

DEFAULT_PAUSE_S = 10.0  # a 429 or 503 without Retry-After: how long the host's requests wait
MAX_ALIASES = 8  # a page's other URLs kept for the next crawl's conditional requests

SKIPPED_EXTENSIONS = frozenset([
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".bmp", ".tif", ".tiff", ".mp3", ".mp4", ".m4a",
    ".avi", ".mov", ".wmv", ".webm", ".ogg", ".wav", ".zip", ".gz", ".tgz", ".rar", ".7z", ".tar", ".exe", ".dmg",
    ".iso", ".msi", ".apk", ".bin", ".css", ".js", ".mjs", ".woff", ".woff2", ".ttf", ".otf", ".eot",
])  # fmt: skip
HTML_TYPES = ("text/html", "application/xhtml+xml")


class Scope:
    """The pages a crawl may visit: same scheme and host as the start, and under its folder for 'path'."""

    def __init__(self, start: str, kind: str) -> None:
        self.origin = origin(start)
        path = urlsplit(start).path
        self.prefix = "/" if kind == "site" else path[: path.rfind("/") + 1]

    def __contains__(self, url: str) -> bool:
        path = urlsplit(url).path
        return origin(url) == self.origin and path.startswith(self.prefix)


@dataclass(frozen=True)
class _Fetched:
    url: str
    result: RawDocument | Exception  # the page, or why there is none (a CdgptError, or NotModified)


def _raising(exc: Exception) -> Callable[[], RawDocument]:
    def load() -> RawDocument:
        raise exc

    return load


def _holding(raw: RawDocument) -> Callable[[], RawDocument]:
    return lambda: raw


def _fetching_again(
    url: str, source: str, settings: Settings, seen: Seen | None, gate: HostGate, delay_s: float
) -> RawDocument:
    """A page past the bytes a crawl holds, fetched again (conditionally) in the pipeline's turn, through
    its host's gate like every request of the crawl."""
    with gate.slot(delay_s):
        return replace(fetch_url(url, settings, seen), source=source)


class _Crawl:
    def __init__(
        self, entry: CrawlEntry, settings: Settings, seen: Mapping[str, Seen], robots: Robots, listing: Listing | None
    ) -> None:
        self.options = entry.crawl
        self.listing = listing
        self.settings = settings
        self.seen = seen
        self.robots = robots
        self.gate = host_gate(origin(entry.url))
        self.delay_s = max(entry.crawl.delay_s, robots.delay_s)
        self.scope = Scope(entry.url, entry.crawl.scope)
        self.levels: defaultdict[int, list[str]] = defaultdict(list)
        self.known: set[str] = set()  # URLs queued, fetched or named canonical
        self.hashes: set[bytes] = set()
        self.aliases: defaultdict[str, set[str]] = defaultdict(set)  # a page's other URLs the crawl met
        self.asked: set[str] = set()  # every URL it fetched
        self.known_aliases: defaultdict[str, list[str]] = defaultdict(list)  # those the last crawl kept, by page
        for url, known in seen.items():
            if known.alias_of:
                self.known_aliases[known.alias_of].append(url)
        self.documents: list[SourceDocument] = []
        self.fetches = 0
        self.fetched = 0  # bytes of pages fetched: the crawl stops past MAX_CRAWL_BYTES
        self.held = 0  # of those, held for the pipeline: past HELD_CRAWL_BYTES a page is fetched again in its turn

    def queue(self, url: str, depth: int) -> None:
        if (
            depth <= self.options.max_depth
            and url not in self.known
            and url in self.scope
            and splitext(urlsplit(url).path)[1].lower() not in SKIPPED_EXTENSIONS
            and self.robots.allowed(url)
        ):
            self.known.add(url)
            self.levels[depth].append(url)

    def fetch(self, url: str) -> _Fetched:
        try:
            with self.gate.slot(self.delay_s):
                return _Fetched(url, fetch_url(url, self.settings, self.seen.get(url)))
        except (CdgptError, NotModified) as exc:
            if isinstance(exc, HttpUnavailable) and exc.status in (429, 503):  # asked to slow down
                self.gate.pause(exc.retry_after_s if exc.retry_after_s is not None else DEFAULT_PAUSE_S)
            return _Fetched(url, exc)

    def run(self, start: str) -> list[SourceDocument]:
        if not self.robots.allowed(start):
            raise SourceFailed(f"robots.txt disallows {start}")
        self.known.add(start)
        self.levels[0].append(start)
        for url, known in self.seen.items():  # the pages the last crawl reached, unchanged ones included
            if known.depth is not None:
                self.queue(url, known.depth)
        with ThreadPoolExecutor(max_workers=HOST_CONCURRENCY) as pool:
            while not self.full() and (depths := [d for d, urls in self.levels.items() if urls]):
                depth = min(depths)  # breadth first; small batches so the limits are checked often
                room = min(self.options.max_pages - self.fetches, 4 * HOST_CONCURRENCY)
                batch, self.levels[depth] = self.levels[depth][:room], self.levels[depth][room:]
                self.fetches += len(batch)
                self.asked.update(batch)
                for fetched in pool.map(self.fetch, batch):
                    self.take(fetched, depth, is_start=fetched.url == start)
                if self.listing:
                    self.listing(len(self.documents))
        return [replace(d, aliases=self.aliases_of(d.source)) for d in self.documents]

    def aliases_of(self, page: str) -> tuple[str, ...]:
        """The page's other URLs this crawl met, then those the last one kept that this one did not ask
        (their page's links were not read again: it was unchanged)."""
        met = sorted(self.aliases[page])
        kept = sorted(url for url in self.known_aliases[page] if url not in self.asked)
        return tuple(dict.fromkeys(met + kept))[:MAX_ALIASES]

    def full(self) -> bool:
        return self.fetches >= self.options.max_pages or self.fetched > MAX_CRAWL_BYTES

    def take(self, fetched: _Fetched, depth: int, is_start: bool) -> None:
        raw = fetched.result
        if isinstance(raw, Exception):
            seen = self.seen.get(fetched.url)
            if seen and seen.alias_of and isinstance(raw, NotModified):
                self.take_unchanged_alias(fetched.url, seen.alias_of, raw, depth)
            else:
                self.documents.append(SourceDocument(fetched.url, _raising(raw), depth))
            return
        self.fetched += len(raw.content)  # every page fetched counts, whatever becomes of it
        landed = normalize(raw.url or fetched.url) or fetched.url
        if landed not in self.scope:
            return  # redirected off the crawl
        if landed != fetched.url:
            self.aliases[landed].add(fetched.url)
            if landed in self.known:
                return  # redirected to a page the crawl has already
        if not self.robots.allowed(landed):
            return  # redirected to a page robots.txt disallows
        self.known.add(landed)
        if is_start and is_sitemap(raw):
            for page in sitemap_pages(raw, self.settings, self.options.max_pages, self.listing):
                self.queue(page, 0)
            return
        source = landed
        mime = (raw.content_type or "").split(";")[0].strip().lower()
        if mime in HTML_TYPES:
            charset = (raw.content_type or "").partition("charset=")[2].strip("\"' ") or None
            found = page_links(raw.content, landed, charset)
            for link in found.links:
                self.queue(link, depth + 1)
            if found.noindex:
                return
            if found.canonical and found.canonical != landed and found.canonical in self.scope:
                self.aliases[found.canonical] |= {fetched.url, landed} - {found.canonical}
                if found.canonical in self.known and found.canonical != fetched.url:
                    return  # another URL of a page already taken
                self.known.add(found.canonical)
                source = found.canonical
        digest = hashlib.sha256(raw.content).digest()
        if digest in self.hashes:
            return
        self.hashes.add(digest)
        if self.held + len(raw.content) <= HELD_CRAWL_BYTES:
            self.held += len(raw.content)
            load = _holding(replace(raw, source=source))
        else:  # several crawls of one training each held at most this, whatever their sites serve
            load = partial(
                _fetching_again, landed, source, self.settings, self.seen.get(landed), self.gate, self.delay_s
            )
        self.documents.append(SourceDocument(source, load, depth))

    def take_unchanged_alias(self, url: str, page: str, unchanged: NotModified, depth: int) -> None:
        """Another URL of a page the last crawl took answered 304: the page, unless the crawl has it already."""
        if page not in self.scope or not self.robots.allowed(page):
            return  # the last crawl's page is off this one (another entry's, or robots.txt now disallows it)
        self.aliases[page].add(url)
        if page not in self.known:
            self.known.add(page)
            self.documents.append(SourceDocument(page, _raising(unchanged), depth))


def crawl(
    entry: CrawlEntry, settings: Settings, seen: Mapping[str, Seen], listing: Listing | None = None
) -> list[SourceDocument]:
    start = normalize(entry.url)
    if start is None:
        raise SourceFailed(f"cannot crawl {entry.url}: not a plain http(s) URL")
    robots = Robots.load(origin(start), settings)
    return _Crawl(entry, settings, seen, robots, listing).run(start)
