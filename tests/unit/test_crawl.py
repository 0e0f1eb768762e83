"""Crawl entries and sitemaps against a local site on 127.0.0.1, through the real guarded fetcher."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cdgpt.errors import SourceFailed
from cdgpt.ingest.pipeline import ingest
from cdgpt.ingest.sources import NotModified, expand_entry
from cdgpt.ingest.sources import crawl as crawl_module
from cdgpt.ingest.sources.crawl import crawl
from cdgpt.ingest.sources.entries import CrawlEntry, Seen
from cdgpt.ingest.sources.links import normalize
from cdgpt.limits import HOST_CONCURRENCY
from cdgpt.settings import get_settings
from tests.support import settings_with

ROBOTS = "User-agent: *\nDisallow: /handbook/private/\n\nUser-agent: other-bot\nDisallow: /\n"


def page(title: str, body: str = "", links: list[str] = (), head: str = "") -> str:
    anchors = "".join(f'<a href="{href}">{href}</a> ' for href in links)
    return f"<html><head><title>{title}</title>{head}</head><body><h1>{title}</h1><p>{body}</p>{anchors}</body></html>"


@pytest.fixture
def allow_private(monkeypatch):
    return settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1")


@pytest.fixture
def site(web):
    """A handbook under /handbook/ with every kind of link a crawl must sort out."""
    web.add("/robots.txt", ROBOTS, "text/plain")
    web.add(
        "/handbook/",
        page(
            "Handbook",
            "Start here.",
            [
                "leave.html",
                "leave.html#carry-over",  # the same page
                "travel.html",
                "copy-of-travel.html",  # the same content
                "print/leave.html",  # names leave.html as canonical
                "old-leave.html",  # redirects to leave.html
                "private/salaries.html",  # robots.txt
                "logo.png",  # not a document
                "/other/team.html",  # outside /handbook/
                "http://elsewhere.test/x.html",  # another site
                "mailto:hr@acme.test",
                "quiet.html",
                "deep/1.html",
            ],
        ),
    )
    web.add("/handbook/leave.html", page("Leave", "Employees get 26 days of leave."))
    web.add("/handbook/travel.html", page("Travel", "Book trains for trips under 500 km."))
    web.add("/handbook/copy-of-travel.html", page("Travel", "Book trains for trips under 500 km."))
    canonical = '<link rel="canonical" href="/handbook/leave.html">'
    web.add("/handbook/print/leave.html", page("Leave (print)", "Print version.", head=canonical))
    web.redirect("/handbook/old-leave.html", "/handbook/leave.html", 301)
    web.add("/handbook/private/salaries.html", page("Salaries", "SECRET"))
    web.add("/other/team.html", page("Team", "Outside the handbook."))
    noindex = '<meta name="robots" content="noindex">'
    web.add("/handbook/quiet.html", page("Quiet", "NOT_INDEXED", ["found-through-quiet.html"], head=noindex))
    web.add("/handbook/found-through-quiet.html", page("Found", "Linked from a noindex page."))
    for n in range(1, 5):
        web.add(f"/handbook/deep/{n}.html", page(f"Deep {n}", f"Level {n}.", [f"{n + 1}.html"]))
    return web


def entry(url: str, **options) -> CrawlEntry:
    return CrawlEntry.model_validate({"url": url, "crawl": options})


def sources(documents) -> list[str]:
    return [d.source for d in documents]


def test_given_a_site_when_crawled_then_each_same_scope_page_is_taken_once(site, allow_private):
    documents = crawl(entry(site.base + "/handbook/", max_depth=3), allow_private, {})
    base = site.base + "/handbook/"
    assert sources(documents) == [
        base,
        base + "leave.html",
        base + "travel.html",
        base + "deep/1.html",
        base + "found-through-quiet.html",
        base + "deep/2.html",
        base + "deep/3.html",
    ]
    assert [d.depth for d in documents] == [0, 1, 1, 1, 2, 2, 3]
    hits = set(site.hits)
    assert "/handbook/private/salaries.html" not in hits  # robots.txt
    assert {"/handbook/logo.png", "/other/team.html", "/handbook/deep/4.html"}.isdisjoint(hits)
    assert site.hits.count("/robots.txt") == 1
    assert site.hits.count("/handbook/leave.html") == 2  # once more through old-leave.html's redirect
    loaded = {d.source: d.load() for d in documents}
    assert b"26 days" in loaded[base + "leave.html"].content
    assert all(raw.source == source for source, raw in loaded.items())


def test_given_pages_past_the_bytes_a_crawl_holds_when_loaded_then_they_are_fetched_again(
    site, allow_private, monkeypatch
):
    held = crawl(entry(site.base + "/handbook/", max_depth=1), allow_private, {})
    monkeypatch.setattr(crawl_module, "HELD_CRAWL_BYTES", 0)
    fetched_again = crawl(entry(site.base + "/handbook/", max_depth=1), allow_private, {})
    site.add("/handbook/leave.html", page("Leave", "Employees now get 28 days of leave."))
    leave = site.base + "/handbook/leave.html"
    [held_leave] = [d.load() for d in held if d.source == leave]
    [loaded_leave] = [d.load() for d in fetched_again if d.source == leave]
    assert b"26 days" in held_leave.content  # held: as the crawl fetched it
    assert b"28 days" in loaded_leave.content and loaded_leave.source == leave  # fetched again, in its turn


def test_given_a_training_out_of_time_when_a_crawl_lists_pages_then_the_training_stops(site, allow_private):
    class OutOfTime(Exception):  # what the worker's progress raises past its deadline
        pass

    def progress(stage: str, advance: int, total: int) -> None:
        if stage == "listing":
            raise OutOfTime

    with pytest.raises(OutOfTime):  # the training's failure, not the entry's
        ingest([entry(site.base + "/handbook/", max_depth=3)], allow_private, progress)
    assert "/handbook/leave.html" not in site.hits  # stopped after the first batch (the start page)


def test_given_max_pages_when_crawled_then_no_more_pages_are_fetched(site, allow_private):
    documents = crawl(entry(site.base + "/handbook/", max_pages=3), allow_private, {})
    assert len(documents) <= 3
    assert len([h for h in site.hits if h != "/robots.txt"]) == 3


def test_given_site_scope_when_crawled_then_other_folders_of_the_host_are_included(site, allow_private):
    documents = crawl(entry(site.base + "/handbook/", scope="site", max_depth=1), allow_private, {})
    assert site.base + "/other/team.html" in sources(documents)
    assert not any("elsewhere" in s or "private" in s for s in sources(documents))


def test_given_a_broken_link_when_crawled_then_that_page_fails_alone_with_its_reason(web, allow_private):
    web.add("/robots.txt", "", "text/plain", status=404)  # no robots.txt: everything allowed
    web.add("/", page("Home", "Welcome.", ["gone.html"]))
    first, broken = crawl(entry(web.base + "/"), allow_private, {})
    assert first.load().content.startswith(b"<html>")
    with pytest.raises(SourceFailed, match="HTTP 404"):
        broken.load()


def test_given_a_start_page_robots_txt_disallows_when_crawled_then_the_entry_fails(site, allow_private):
    with pytest.raises(SourceFailed, match=r"robots\.txt disallows"):
        crawl(entry(site.base + "/handbook/private/salaries.html"), allow_private, {})
    assert "/handbook/private/salaries.html" not in site.hits


@pytest.mark.parametrize(("status", "outcome"), [(503, "fails"), (403, "fails"), (404, "crawls")])
def test_given_robots_txt_errors_when_crawled_then_5xx_and_403_stop_the_crawl(web, allow_private, status, outcome):
    web.add("/robots.txt", "", "text/plain", status=status)
    web.add("/", page("Home", "Welcome."))
    if outcome == "crawls":
        assert sources(crawl(entry(web.base + "/"), allow_private, {})) == [web.base + "/"]
    else:
        with pytest.raises(SourceFailed):
            crawl(entry(web.base + "/"), allow_private, {})
        assert web.hits == ["/robots.txt"]


def test_given_our_user_agent_is_disallowed_when_crawled_then_nothing_is_fetched(web, allow_private):
    web.add("/robots.txt", "User-agent: custom-data-gpt\nDisallow: /\n", "text/plain")
    web.add("/", page("Home"))
    with pytest.raises(SourceFailed, match=r"robots\.txt disallows"):
        crawl(entry(web.base + "/"), allow_private, {})
    assert web.hits == ["/robots.txt"]


def test_given_private_addresses_are_not_allowed_when_crawled_then_nothing_is_fetched(site):
    with pytest.raises(SourceFailed, match="not public"):
        expand_entry(entry(site.base + "/handbook/"), get_settings())
    assert site.hits == []


# --- Sitemaps ------------------------------------------------------------------------------------


def urlset(*urls: str) -> str:
    locs = "".join(f"<url><loc>{u}</loc><lastmod>2025-01-01</lastmod></url>" for u in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'


def test_given_a_sitemap_index_with_a_gzip_sitemap_when_expanded_then_its_pages_are_the_documents(site, allow_private):
    base = site.base
    site.add(
        "/sitemap.xml",
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/sitemaps/a.xml.gz</loc></sitemap><sitemap><loc>{base}/sitemaps/b.xml</loc></sitemap>"
        "<sitemap><loc>http://elsewhere.test/sitemap.xml</loc></sitemap></sitemapindex>",
        "application/xml",
    )
    first = urlset(f"{base}/handbook/leave.html", f"{base}/handbook/private/salaries.html", "http://elsewhere.test/x")
    site.add("/sitemaps/a.xml.gz", gzip.compress(first.encode()), "application/gzip")
    site.add("/sitemaps/b.xml", urlset(f"{base}/handbook/travel.html", f"{base}/handbook/leave.html"), "text/xml")
    documents = expand_entry(f"{base}/sitemap.xml", allow_private)
    assert sources(documents) == [f"{base}/handbook/leave.html", f"{base}/handbook/travel.html"]
    assert "/handbook/leave.html" not in site.hits  # pages are fetched by the pipeline, later
    assert b"Book trains" in documents[1].load().content


def test_given_an_xml_url_that_is_not_a_sitemap_when_expanded_then_it_is_one_document(web, allow_private):
    web.add("/feed.xml", '<?xml version="1.0"?><rss><channel><title>News</title></channel></rss>', "application/xml")
    [document] = expand_entry(web.base + "/feed.xml", allow_private)
    web.add("/feed.xml", '<?xml version="1.0"?><rss><channel><title>Later</title></channel></rss>', "text/xml")
    # fetched again in its turn: its body is not held in memory from the expansion on
    assert document.source == web.base + "/feed.xml" and b"<title>Later</title>" in document.load().content


def test_given_a_crawl_entry_naming_a_sitemap_when_crawled_then_its_pages_are_the_start(site, allow_private):
    site.add("/sitemap.xml", urlset(f"{site.base}/handbook/travel.html", f"{site.base}/other/team.html"), "text/xml")
    documents = crawl(entry(site.base + "/sitemap.xml", max_depth=0, scope="site"), allow_private, {})
    assert sources(documents) == [f"{site.base}/handbook/travel.html", f"{site.base}/other/team.html"]


def test_given_a_damaged_sitemap_when_expanded_then_the_entry_fails_with_the_reason(web, allow_private):
    web.add("/sitemap.xml", "<urlset><url><loc>x</loc></url>", "text/xml")
    with pytest.raises(SourceFailed, match="damaged"):
        expand_entry(web.base + "/sitemap.xml", allow_private)


# --- Conditional requests and politeness -----------------------------------------------------------


def test_given_pages_seen_before_when_crawled_again_then_unchanged_ones_are_not_downloaded(web, allow_private):
    web.add("/robots.txt", "", "text/plain", status=404)
    web.add("/", page("Home", "Welcome.", ["a.html"]), headers={"ETag": '"home-1"'})
    web.add("/a.html", page("A", "Alpha."), headers={"Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"})
    first = crawl(entry(web.base + "/"), allow_private, {})
    seen = {}
    for document in first:
        raw = document.load()
        seen[document.source] = Seen(raw.etag, raw.last_modified, document.depth)
    web.answers.clear()
    again = crawl(entry(web.base + "/"), allow_private, seen)
    assert sources(again) == sources(first)
    for document in again:
        with pytest.raises(NotModified):
            document.load()
    assert sorted(web.answers) == [("/", 304), ("/a.html", 304), ("/robots.txt", 404)]


@pytest.mark.parametrize("target", ["/docs/b.html", "/elsewhere/b.html"])
def test_an_unchanged_alias_stands_for_its_page_only_within_the_crawl(web, allow_private, target):
    web.add("/robots.txt", "", "text/plain", status=404)
    web.add("/docs/", page("Docs", links=["a.html"]))
    web.add("/docs/a.html", "moved", headers={"ETag": '"b-1"'})  # answers 304 to its page's validators
    seen = {web.base + "/docs/a.html": Seen('"b-1"', alias_of=web.base + target)}
    documents = {d.source: d for d in crawl(entry(web.base + "/docs/"), allow_private, seen)}
    if target.startswith("/docs/"):  # the page, unchanged, with the URL that stood for it
        assert sorted(documents) == [web.base + "/docs/", web.base + target]
        assert documents[web.base + target].aliases == (web.base + "/docs/a.html",)
        with pytest.raises(NotModified):
            documents[web.base + target].load()
    else:  # another entry's page is off this crawl: not taken through its alias
        assert sorted(documents) == [web.base + "/docs/"]


def test_a_pages_aliases_are_asked_by_crawls_only_and_with_its_etag_only():
    """If-Modified-Since would take any page unchanged since that date for the page; and a URL entry that a
    crawl met as an alias has no record of its own to reuse on a 304."""
    from cdgpt.ingest.incremental import Previous, PreviousDocument

    site = "https://intranet.test/"
    tagged = {"source": site + "a.html", "etag": '"a1"', "last_modified": "Wed, 01 Jan 2025 00:00:00 GMT"}
    dated = {"source": site + "b.html", "last_modified": "Wed, 01 Jan 2025 00:00:00 GMT"}
    previous = Previous(
        {
            site + "a.html": PreviousDocument(tagged | {"aliases": [site + "a", site + "b.html"]}, ()),
            site + "b.html": PreviousDocument(dated | {"aliases": [site + "b"]}, ()),
        }
    )
    crawling = previous.seen_by(entry(site))
    assert crawling[site + "a"] == Seen('"a1"', alias_of=site + "a.html")  # no date
    assert crawling[site + "b.html"].alias_of is None  # a page of its own, not another's alias
    assert site + "b" not in crawling  # its page has no ETag
    assert site + "a" not in previous.seen_by(site + "a")  # a URL entry: its own record or none


def test_crawl_requests_to_one_host_stay_within_the_concurrency_bound(allow_private):
    in_flight, peak, lock, wide = [0], [0], threading.Condition(), HOST_CONCURRENCY + 4
    # The first pages are held until HOST_CONCURRENCY are in flight, then half a second more: time for a
    # crawler that ignored the bound to send one more (it would be seen at once).
    holding = [True]
    links = "".join(f'<a href="/p{i}.html">p{i}</a>' for i in range(wide))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
                lock.notify_all()
                deadline = time.monotonic() + 5
                while holding[0] and self.path.startswith("/p") and time.monotonic() < deadline:
                    if in_flight[0] >= HOST_CONCURRENCY:
                        deadline = min(deadline, time.monotonic() + 0.5)
                    if in_flight[0] > HOST_CONCURRENCY:
                        break
                    lock.wait(max(0.0, deadline - time.monotonic()))
                holding[0] = holding[0] and not self.path.startswith("/p")
            body = f"<html><body><p>{self.path}</p>{links if self.path == '/' else ''}</body></html>".encode()
            self.send_response(200 if self.path != "/robots.txt" else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with lock:
                in_flight[0] -= 1

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        documents = crawl(entry(f"http://127.0.0.1:{server.server_port}/"), allow_private, {})
    finally:
        server.shutdown()
        server.server_close()
    assert len(documents) == wide + 1
    assert peak[0] == HOST_CONCURRENCY


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM:80/a/../b?x=1#frag", "http://example.com/b?x=1"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:8443/p", "https://example.com:8443/p"),
        ("https://user:pw@example.com/", None),
        ("ftp://example.com/", None),
        ("javascript:alert(1)", None),
        ("https://example.com:99999/", None),
    ],
)
def test_urls_are_normalized_for_comparison(url, expected):
    assert normalize(url) == expected


def test_a_redirect_into_what_robots_txt_disallows_is_not_indexed(site, allow_private):
    site.add(
        "/handbook/",
        page("Handbook", "Start here.", ["go.html", "leave.html"]),
    )
    site.redirect("/handbook/go.html", "/handbook/private/salaries.html")
    documents = crawl(entry(site.base + "/handbook/"), allow_private, {})
    assert sources(documents) == [site.base + "/handbook/", site.base + "/handbook/leave.html"]


def test_a_host_that_answers_429_holds_the_crawls_requests_back_for_its_retry_after(web, allow_private):
    from cdgpt.ingest.sources.links import origin
    from cdgpt.ingest.sources.robots import MAX_PAUSE_S, host_gate

    web.add("/robots.txt", "", "text/plain")
    web.add("/busy/", page("Busy", "Start.", ["a.html"]))
    web.add("/busy/a.html", "slow down", "text/plain", status=429, headers={"Retry-After": "3600"})
    crawl(entry(web.base + "/busy/"), allow_private, {})
    held_until = host_gate(origin(web.base + "/busy/"))._next_start
    assert 0 < held_until - time.monotonic() <= MAX_PAUSE_S  # Retry-After, capped


def test_robots_txt_is_read_as_rfc_9309_says():
    """Wildcards, an end anchor, and the longest matching rule winning (the standard library's parser
    matched literal prefixes, first rule first, and fetched all of these)."""
    from cdgpt.ingest.sources.robots import Robots

    rules = Robots(
        "User-agent: *\nAllow: /\nDisallow: /private/\nDisallow: /*/secret\nDisallow: /*.pdf$\n"
        "Disallow: /*?session=\nAllow: /private/open/\n"
    )
    refused = ["/private/pay.html", "/a/secret/x", "/doc.pdf", "/p?session=1"]
    allowed = ["/", "/doc.pdf?download=1", "/private/open/rooms.html", "/public/notes.html"]
    assert [rules.allowed(f"https://intranet.test{path}") for path in refused] == [False] * 4
    assert [rules.allowed(f"https://intranet.test{path}") for path in allowed] == [True] * 4
