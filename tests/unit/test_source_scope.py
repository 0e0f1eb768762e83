"""Where a source-scoped key may train from: a scope holds itself and what lies below it at a `/`, compared
as a fetcher would place the source (host case, default ports), and never a path that steps up."""

from __future__ import annotations

import pytest

from cdgpt.errors import InvalidRequest
from cdgpt.ingest.sources.entries import parse_entry
from cdgpt.ingest.sources.scope import check_source_scopes, entry_within, within

HR = ["https://intranet.example.com/hr/", "s3://docs/hr", "handbook/hr"]


@pytest.mark.parametrize(
    "source",
    [
        "https://intranet.example.com/hr/",
        "https://intranet.example.com/hr/leave.html?print=1#top",
        "https://INTRANET.example.com:443/hr/a/b.pdf",
        "s3://docs/hr",
        "s3://docs/hr/leave.md",
        "handbook/hr/leave.md",
        "handbook/hr",
        "https://intranet.example.com/h%72/leave.html",  # decoded as a server decodes it
    ],
)
def test_a_source_at_or_below_a_scope_is_within_it(source):
    assert within(source, HR)


@pytest.mark.parametrize(
    "source",
    [
        "https://intranet.example.com/hr",  # the folder's scope ends in /: the page above it is not in it
        "https://intranet.example.com/hr-finance/plan.html",
        "https://intranet.example.com/hr/../finance/plan.html",
        "https://intranet.example.com/hr/%2E%2e/finance/plan.html",
        "https://intranet.example.com/hr/%2e/x",
        "https://intranet.example.com/hr/..%2ffinance/plan.html",
        "https://intranet.example.com/hr/..%5Cfinance/plan.html",
        "https://intranet.example.com/hr/..;/finance/plan.html",
        "https://intranet.example.com/hr/%252e%252e/finance/plan.html",
        "https://intranet.example.com/hr/%ff/plan.html",
        "https://intranet.example.com/hr\\..\\finance",
        "http://intranet.example.com/hr/leave.html",  # another scheme
        "https://intranet.example.com:8443/hr/leave.html",  # another port
        "https://intranet.example.com.evil.test/hr/leave.html",
        "https://intranet.example.com@evil.test/hr/leave.html",
        "s3://docs/hr-finance/plan.md",
        "s3://docs/hr/../finance/plan.md",
        "s3://docs/hr#board/minutes.md",
        "s3://docs/hr?x=1",
        "s3://docs2/hr/leave.md",
        "handbook/hr2/leave.md",
        "handbook/hr/../finance.md",
        "",
    ],
)
def test_anything_else_is_not(source):
    assert not within(source, HR)


def test_a_crawl_is_within_when_its_start_page_is():
    crawl = {"url": "https://intranet.example.com/hr/", "crawl": {"max_pages": 5}}
    assert entry_within(parse_entry(crawl), HR)
    assert not entry_within(parse_entry({**crawl, "url": "https://intranet.example.com/"}), HR)


@pytest.mark.parametrize("scopes", [[], ["ftp://example.com/x"], ["https:///nohost"], ["a/../b"], ["x"] * 101])
def test_what_cannot_be_a_scope_is_refused(scopes):
    with pytest.raises(InvalidRequest):
        check_source_scopes(scopes)


def test_scopes_keep_their_order_without_repeats():
    assert check_source_scopes(["s3://docs/hr", "s3://docs/hr", "handbook"]) == ["s3://docs/hr", "handbook"]


def test_a_document_is_reused_only_under_the_scope_it_was_read_under():
    """Read under one key's sources (or none), it is read again for an entry of another scope, not reused
    because it answers 304 (a 304 says nothing of where its redirects land)."""
    from cdgpt.ingest.incremental import Previous, PreviousDocument

    hr, it = ["https://intranet.test/hr/"], ["https://intranet.test/it/"]
    previous = Previous(
        {
            "https://intranet.test/it/a": PreviousDocument({"source": "https://intranet.test/it/a"}, (), within=hr),
            "https://intranet.test/it/b": PreviousDocument({"source": "https://intranet.test/it/b"}, (), within=it),
            "https://intranet.test/it/c": PreviousDocument({"source": "https://intranet.test/it/c"}, ()),
        }
    )
    assert list(previous.under(it).documents) == ["https://intranet.test/it/b"]
    assert list(previous.under(it).seen) == ["https://intranet.test/it/b"]  # no validators for the others
    assert len(previous.under(None).documents) == 3  # a training without a scope may read anything


def test_a_retry_after_that_is_not_ascii_digits_is_no_delay():
    from cdgpt.ingest.sources.url import http_status

    assert http_status(429, "\u00b2").retry_after_s is None and http_status(503, " 7 ").retry_after_s == 7.0
