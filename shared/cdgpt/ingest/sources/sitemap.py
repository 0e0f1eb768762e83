"""Sitemaps (sitemaps.org): a `urlset` of pages, or a `sitemapindex` of more sitemaps, plain or gzipped.

Only URLs on the sitemap's own site are taken (as the protocol requires), each once, in order.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from functools import partial

from cdgpt.errors import CdgptError, PayloadTooLarge, SourceFailed, source_failure
from cdgpt.ingest.safexml import local, parse_xml
from cdgpt.ingest.sources import Listing, RawDocument, SourceDocument
from cdgpt.ingest.sources.entries import Seen
from cdgpt.ingest.sources.links import normalize, origin
from cdgpt.ingest.sources.robots import HostGate, Robots, host_gate
from cdgpt.ingest.sources.url import fetch_url
from cdgpt.limits import MAX_SITEMAP_FILES, MAX_SITEMAP_URLS
from cdgpt.settings import Settings

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # unpacked, as the protocol allows
ROOTS = (b"<urlset", b"<sitemapindex")


def _unpacked(raw: RawDocument) -> bytes:
    if not raw.content.startswith(b"\x1f\x8b"):
        return raw.content
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw.content, MAX_SITEMAP_BYTES + 1)
    except zlib.error as exc:
        raise SourceFailed(f"sitemap {raw.source} is not valid gzip") from exc
    if len(data) > MAX_SITEMAP_BYTES:
        raise PayloadTooLarge(f"sitemap {raw.source} unpacks to more than {MAX_SITEMAP_BYTES // 2**20} MB")
    return data


def is_sitemap(raw: RawDocument) -> bool:
    """Whether the body's root element is a urlset or a sitemapindex (gzipped or not)."""
    head = raw.content[:4096]
    if head.startswith(b"\x1f\x8b"):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
        except zlib.error:
            return False
    return any(root in head or b":" + root[1:] in head for root in ROOTS)  # <urlset or <sm:urlset


def sitemap_pages(raw: RawDocument, settings: Settings, limit: int, listing: Listing | None = None) -> list[str]:
    """The pages a sitemap lists on its site, through any sitemap indexes; at most `limit` + 1 of them.
    `listing` is told of each sitemap read (it may raise to stop)."""
    site = origin(normalize(raw.url or raw.source) or raw.source)
    pending: list[RawDocument | str] = [raw]  # sitemaps to read; those an index names are fetched in turn
    pages: list[str] = []
    listed: set[str] = set()
    files = 0
    while pending and len(pages) <= limit:
        current = pending.pop(0)
        if listing:
            listing(len(pages))
        if isinstance(current, str):
            try:
                current = fetch_url(current, settings)
            except CdgptError as exc:  # a site down stays a site down (a retraining keeps what it listed)
                raise source_failure(exc)(f"sitemap {current}: {exc}") from exc
        root = parse_xml(_unpacked(current), f"sitemap {current.source}")
        if local(root) not in ("urlset", "sitemapindex"):
            raise SourceFailed(f"{current.source} is not a sitemap (its root is <{local(root)}>)")
        for number, loc in enumerate(root.iter("{*}loc")):
            url = normalize(loc.text or "")
            if number >= MAX_SITEMAP_URLS or len(pages) > limit:
                break
            if not url or origin(url) != site or url in listed:
                continue
            listed.add(url)
            if local(root) == "urlset":
                pages.append(url)
            elif files < MAX_SITEMAP_FILES:
                files += 1
                pending.append(url)
    return pages


def expand_sitemap(
    url: str, settings: Settings, seen: Mapping[str, Seen], listing: Listing | None = None
) -> list[SourceDocument]:
    """A sitemap entry: its pages (allowed by robots.txt), each fetched later with the pipeline. An .xml URL
    that is not a sitemap is one document, as any URL: fetched again in its turn, not held from now on
    (thousands of entries, each up to the size cap, would all be in memory before the first is read)."""
    raw = fetch_url(url, settings)
    if not is_sitemap(raw):
        return [SourceDocument(url, partial(fetch_url, url, settings, seen.get(url)))]
    cap = settings.max_prefix_objects
    pages = sitemap_pages(raw, settings, cap, listing)
    if len(pages) > cap:
        raise PayloadTooLarge(f"more than {cap} pages in {url}; crawl it with a max_pages to take part of it")
    if not pages:
        raise SourceFailed(f"{url} lists no page of its own site")
    robots = Robots.load(origin(pages[0]), settings)
    pages = [page for page in pages if robots.allowed(page)]
    if not pages:
        raise SourceFailed(f"robots.txt disallows every page {url} lists")
    gate = host_gate(origin(pages[0]))
    return [
        SourceDocument(page, partial(_fetch_paced, page, settings, seen.get(page), gate, robots.delay_s))
        for page in pages
    ]


def _fetch_paced(url: str, settings: Settings, seen: Seen | None, gate: HostGate, delay: float) -> RawDocument:
    with gate.slot(delay):
        return fetch_url(url, settings, seen)
