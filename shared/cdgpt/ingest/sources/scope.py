"""Source scopes: where a key may train from (`cdgpt keys create --sources`).

A scope is an http(s) URL, an S3 location or a local path. A source is within it when it is the scope or
lies below it at a `/`: `s3://docs/hr` holds `s3://docs/hr/leave.md`, not `s3://docs/hr-finance/plan.md`.
URLs compare by scheme, host, port and percent-decoded path (a query or fragment does not matter); an S3
key is taken literally. A source whose path steps up (`..`, `.`), holds a backslash, or an encoded dot,
slash, backslash or percent is within no scope, since a server may resolve it elsewhere. A training
checks each document, where a URL's redirects landed, and where a local file's links lead.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from cdgpt.errors import InvalidRequest
from cdgpt.ingest.sources.entries import CrawlEntry, Entry
from cdgpt.limits import MAX_ENTRY_CHARS

MAX_SCOPES = 100
Scope = list[str] | None  # a training key's sources; None: any the service may read
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ENCODED = re.compile(r"%(2e|2f|5c|25)", re.IGNORECASE)  # a dot, slash, backslash or percent, encoded
_STEP = re.compile(r"(^|/)\.\.?(;[^/]*)?(/|$)")  # a `.` or `..` segment (`..;x` too, as Java servers read it)


def _path(path: str) -> str | None:
    """A path as servers resolve it (percent-decoded once), or None when it may resolve elsewhere: it steps
    up, holds a backslash, or an encoded dot, slash, backslash or percent (`..%2f`, `%252e`)."""
    if _ENCODED.search(path):
        return None
    decoded = unquote(path, errors="strict")
    if "\\" in decoded or _STEP.search(decoded) or any(ord(c) < 32 for c in decoded):
        return None
    return decoded


def _normal(source: str) -> str | None:
    """The source as scopes compare it, or None when it cannot be placed safely."""
    try:
        if "://" not in source:  # a local path (relative to the source root)
            path = _path(source)
            return posixpath.normpath(path) if path not in (None, "", ".") else None
        if source[:5].lower() == "s3://":  # a key is taken literally: `#` and `?` are part of it
            bucket, _, key = source[5:].partition("/")
            return f"s3://{bucket}/{key}" if bucket and _path(key) is not None else None
        parts = urlsplit(source)
        port, path = parts.port, _path(parts.path or "/")
    except (ValueError, UnicodeDecodeError):
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or path is None:
        return None
    shown_port = f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{parts.hostname.lower()}{shown_port}{path}"


def check_source_scopes(scopes: Sequence[str]) -> list[str]:
    """The scopes, each checked (InvalidRequest names the first that is not one), without repeats."""
    if not scopes or len(scopes) > MAX_SCOPES:
        raise InvalidRequest(f"give 1 to {MAX_SCOPES} sources: URLs, s3:// locations or paths")
    for scope in scopes:
        if len(scope) > MAX_ENTRY_CHARS or _normal(scope) is None:
            raise InvalidRequest(f"not a URL, an s3:// location or a path a key can be scoped to: {scope[:200]!r}")
    return list(dict.fromkeys(scopes))


def within(source: str, scopes: Sequence[str] | None) -> bool:
    """Whether the source is one of the scopes or below one of them (None: no scope, any source is)."""
    if scopes is None:
        return True
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
