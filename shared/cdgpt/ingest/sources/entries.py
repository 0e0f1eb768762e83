"""What a `file_list` entry may be: a string (URL, s3:// or path), or a URL to crawl with its options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from cdgpt.errors import InvalidRequest
from cdgpt.limits import MAX_CRAWL_DEPTH, MAX_CRAWL_PAGES, MAX_ENTRY_CHARS


def _http_url(url: str) -> str:
    if not url.lower().startswith(("http://", "https://")) or any(ord(c) <= 32 for c in url):
        raise ValueError("must be an http:// or https:// URL without spaces")
    return url


HttpUrl = Annotated[str, StringConstraints(max_length=MAX_ENTRY_CHARS), AfterValidator(_http_url)]


class CrawlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # "7" or true is no number of pages

    max_pages: int = Field(100, ge=1, le=MAX_CRAWL_PAGES, description="pages fetched at most")
    max_depth: int = Field(3, ge=0, le=MAX_CRAWL_DEPTH, description="links followed from the start page")
    scope: Literal["path", "site"] = Field(
        "path", description="'path': pages under the start URL's folder; 'site': the whole host"
    )
    delay_s: float = Field(0.0, ge=0, le=10, description="pause between requests (robots.txt Crawl-delay wins)")


class CrawlEntry(BaseModel):
    """A site to crawl from `url` (a page, or a sitemap), following same-site links; robots.txt is honoured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    crawl: CrawlOptions


Entry = str | CrawlEntry


def crawl_entry(value: Any) -> CrawlEntry:
    """A crawl object validated; a ValueError names the first field that is wrong."""
    if isinstance(value, CrawlEntry):
        return value
    if not isinstance(value, dict):
        raise ValueError('a file_list entry is a string, or an object {"url": ..., "crawl": {...}}')
    try:
        return CrawlEntry.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValueError(f"crawl entry {where}: {error['msg']}") from None


def request_entry(value: Any) -> Entry:
    """One file_list item of an API request: a string of 1-2048 characters, or a crawl object."""
    if isinstance(value, str):
        if not value or len(value) > MAX_ENTRY_CHARS:
            raise ValueError(f"a file_list entry is a string of 1 to {MAX_ENTRY_CHARS} characters")
        return value
    return crawl_entry(value)


def parse_entry(value: Any) -> Entry:
    """A file_list item as the domain takes it: strings stripped (checked when expanded), crawl objects validated."""
    if isinstance(value, str):
        return value.strip()
    try:
        return crawl_entry(value)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc


def entry_label(entry: Entry) -> str:
    """An entry as reasons name it."""
    return entry if isinstance(entry, str) else entry.url


@dataclass(frozen=True)
class Seen:
    """What the current model recorded about a document: enough to ask the source whether it changed."""

    etag: str | None = None
    last_modified: str | None = None
    depth: int | None = None  # for a crawled page: links followed from the start page
    alias_of: str | None = None  # for another URL of a crawled page (a redirect, a canonical link): the page's
