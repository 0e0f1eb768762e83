"""URLs as a crawl compares them, and the links, canonical URL and robots meta tags of an HTML page."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

from cdgpt.limits import MAX_LINKS_PER_PAGE

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize(url: str, base: str | None = None) -> str | None:
    """The URL resolved against base, fragment dropped, scheme and host lower-cased, default port and
    empty path filled in; None for anything that is not a plain http(s) URL."""
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, _without_dots(parts.path), parts.query, ""))


def _without_dots(path: str) -> str:
    """The path with `.` and `..` segments resolved (RFC 3986), never above the root."""
    segments: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if len(segments) > 1:
                segments.pop()
        elif part != ".":
            segments.append(part)
    if path.endswith(("/.", "/..")):
        segments.append("")
    return "/".join(segments) or "/"


def origin(url: str) -> str:
    """scheme://host[:port] of a normalized URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class PageLinks:
    links: list[str] = field(default_factory=list)  # normalized, in page order, each once
    canonical: str | None = None
    noindex: bool = False
    nofollow: bool = False


def page_links(content: bytes, url: str, charset: str | None) -> PageLinks:
    """What a crawler needs from an HTML page: its `a`/`area` links (not rel=nofollow ones), its canonical
    link, and `<meta name="robots">` noindex / nofollow."""
    from lxml import etree
    from lxml import html as lxml_html

    found = PageLinks()
    try:
        parser = lxml_html.HTMLParser(encoding=charset) if charset else None
        root = lxml_html.document_fromstring(content, parser=parser)
    except (etree.ParserError, ValueError, LookupError):
        return found
    base = next((b.get("href") for b in root.iter("base") if b.get("href")), None)
    base = urljoin(url, base) if base else url
    for meta in root.iter("meta"):
        if (meta.get("name") or "").lower() in ("robots", "custom-data-gpt"):
            words = (meta.get("content") or "").lower().replace(",", " ").split()
            found.noindex = found.noindex or "noindex" in words or "none" in words
            found.nofollow = found.nofollow or "nofollow" in words or "none" in words
    for link in root.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            found.canonical = normalize(link.get("href") or "", base)
            break
    if found.nofollow:
        return found
    seen: set[str] = set()
    for anchor in root.iter("a", "area"):
        href = anchor.get("href")
        if not href or "nofollow" in (anchor.get("rel") or "").lower().split():
            continue
        target = normalize(href, base)
        if target and target not in seen:
            seen.add(target)
            found.links.append(target)
            if len(found.links) >= MAX_LINKS_PER_PAGE:
                break
    return found
