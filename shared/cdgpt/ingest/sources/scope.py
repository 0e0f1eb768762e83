"""Source scopes: where a key may train from (`cdgpt keys create --sources`).

A scope is an http(s) URL, an S3 location or a local path. A source is within it when it is the scope or
lies below it at a `/`: `s3://docs/hr` holds `s3://docs/hr/leave.md`, not `s3://docs/hr-finance/plan.md`.
URLs compare by scheme, host, port and path (a query or fragment does not matter); a source whose path
steps up (`..`, `.`, or either percent-encoded) or holds a backslash is within no scope, since a server
may resolve it elsewhere. A training checks each document, and where a URL's redirects landed.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from cdgpt.errors import InvalidRequest
from cdgpt.ingest.sources.entries import CrawlEntry, Entry
from cdgpt.limits import MAX_ENTRY_CHARS

MAX_SCOPES = 100
Scope = list[str] | None  # a training key's sources; None: any the service may read
_STEP = re.compile(r"(^|/)(\.|%2e){1,2}(/|$)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _normal(source: str) -> str | None:
    """The source as scopes compare it, or None when it cannot be placed safely."""
    if "\\" in source or any(ord(c) < 32 for c in source):
        return None
    if "://" not in source:  # a local path
        if _STEP.search(source):
            return None
        return posixpath.normpath(source) if source not in ("", ".") else None
    try:
        parts = urlsplit(source)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if _STEP.search(parts.path):
        return None
    if scheme == "s3":
        return f"s3://{parts.netloc}{parts.path}" if parts.netloc else None
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    shown_port = f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{parts.hostname.lower()}{shown_port}{parts.path or '/'}"


def check_source_scopes(scopes: Sequence[str]) -> list[str]:
    """The scopes, each checked (InvalidRequest names the first that is not one), without repeats."""
    if not scopes or len(scopes) > MAX_SCOPES:
        raise InvalidRequest(f"give 1 to {MAX_SCOPES} sources: URLs, s3:// locations or paths")
    for scope in scopes:
        if len(scope) > MAX_ENTRY_CHARS or _normal(scope) is None:
            raise InvalidRequest(f"not a URL, an s3:// location or a path a key can be scoped to: {scope[:200]!r}")
    return list(dict.fromkeys(scopes))


def within(source: str, scopes: Sequence[str]) -> bool:
    """Whether the source is one of the scopes or below one of them."""
    found = _normal(source)
    if found is None:
        return False
    for scope in scopes:
        base = _normal(scope)
        if base is not None and (found == base or found.startswith(base if base.endswith("/") else base + "/")):
            return True
    return False


def entry_within(entry: Entry, scopes: Sequence[str]) -> bool:
    """Whether a file_list entry starts within the scopes (a crawl: its start page)."""
    return within(str(entry.url) if isinstance(entry, CrawlEntry) else entry, scopes)
