"""HTTP(S) sources, guarded against server-side request forgery.

Every connection, including each redirect hop, resolves the host itself and connects only to an
address it has checked, so a DNS answer cannot change between the check and the connect.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import lru_cache, partial
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from cdgpt.errors import PayloadTooLarge, SourceFailed, SourceRefused, SourceUnavailable
from cdgpt.ingest.sources import Listing, NotModified, RawDocument, SourceDocument
from cdgpt.ingest.sources.entries import Seen
from cdgpt.settings import Settings

MAX_REDIRECTS = 5
USER_AGENT = "custom-data-gpt/0.1 (+document indexer)"


def check_address(ip: str) -> None:
    """Refuse anything that is not a public unicast address."""
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        addr = addr.ipv4_mapped or addr.sixtofour or addr  # 6to4 (2002::/16) routes to the IPv4 address it embeds
    # fec0::/10 (site-local, deprecated) is not in Python's non-global table, so it is named here.
    site_local = isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local
    if not addr.is_global or addr.is_multicast or addr.is_reserved or site_local:
        raise SourceRefused(
            f"refused: address {addr} is not public (private, loopback, link-local or reserved; "
            "CDGPT_ALLOW_PRIVATE_URLS=1 lets a server on a trusted network read its intranet)"
        )


def resolve_checked(host: str, port: int, allow_private: bool) -> list[tuple]:
    """Resolve host and return its socket addresses, every one of them checked. Within a fetch, the lookup
    ends at its deadline: the resolver's own timeouts and retries could take far longer."""
    try:
        infos = _lookup(host, port, getattr(_fetch, "deadline", None))
    except (socket.gaierror, UnicodeError) as exc:  # UnicodeError: no host name ("a..b", a label over 63)
        raise SourceUnavailable(f"cannot resolve host {host[:100]!r}") from exc
    if not allow_private:
        for info in infos:
            check_address(str(info[4][0]))
    return infos


_fetch = threading.local()  # this thread's fetch under way: its sockets, for its deadline's watchdog, and deadline


def _lookup(host: str, port: int, deadline: float | None) -> list[tuple]:
    """getaddrinfo, given up at the deadline (the lookup goes on in its own thread, which ends with it)."""
    if deadline is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[list[tuple] | BaseException] = []

    def look() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the fetch's thread
            found.append(exc)

    lookup = threading.Thread(target=look, daemon=True)
    lookup.start()
    lookup.join(max(deadline - time.monotonic(), 0.0))
    if not found:
        raise SourceUnavailable(f"looking up host {host[:100]!r} took too long")
    if isinstance(found[0], BaseException):
        raise found[0]
    return found[0]


def _connect(conn: HTTPConnection, allow_private: bool) -> socket.socket:
    last_error: OSError | None = None
    for family, socktype, proto, _, sockaddr in resolve_checked(conn._dns_host, conn.port, allow_private):
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(conn.timeout if isinstance(conn.timeout, (int, float)) else None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(sockaddr)
            if (watched := getattr(_fetch, "sockets", None)) is not None:
                watched.append(sock)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise SourceUnavailable(f"cannot connect to {conn.host}: {last_error}")


@contextmanager
def _cut_at(deadline: float) -> Iterator[None]:
    """Shut this thread's fetch sockets down at the deadline: a server that drips its status line or
    headers a byte at a time, each within the read timeout, would otherwise hold the fetch for ever
    (the body's reads check the deadline themselves)."""
    sockets: list[socket.socket] = []

    def cut() -> None:
        for sock in sockets:
            with suppress(OSError):  # closed meanwhile
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), cut)
    watchdog.daemon = True
    _fetch.sockets, _fetch.deadline = sockets, deadline
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
        _fetch.sockets = _fetch.deadline = None


@lru_cache(maxsize=2)
def _adapter_pools(allow_private: bool) -> dict[str, type]:
    class GuardedHTTP(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, allow_private)

    class GuardedHTTPS(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, allow_private)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTP

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPS

    return {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    def __init__(self, allow_private: bool) -> None:
        self._pools = _adapter_pools(allow_private)
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._pools)


def guarded_session(allow_private: bool) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # a proxy would hide the real peer from the address check
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept-Encoding"] = "gzip, deflate"  # the encodings _decoder handles
    adapter = GuardedAdapter(allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceRefused("only http:// and https:// URLs with a host are accepted")
    if parts.username or parts.password:
        raise SourceRefused("URLs with credentials are refused")


class _Decoder:
    """Decodes the body's bytes as they come, at most `room` bytes at a time (more means over the cap)."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise SourceFailed(f"unsupported content encoding {encoding!r}")
        self.inflater = None if encoding in ("", "identity") else self._new()

    @staticmethod
    def _new():
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip, or deflate with its zlib header

    def feed(self, data: bytes, room: int) -> bytes:
        if self.inflater is None:
            return data
        out = self.inflater.decompress(data, max(room, 1))
        while self.inflater.eof and self.inflater.unused_data and len(out) < room:  # another gzip member
            rest, self.inflater = self.inflater.unused_data, self._new()
            out += self.inflater.decompress(rest, max(room - len(out), 1))
        return out

    def finish(self) -> None:
        if self.inflater is not None and not self.inflater.eof:
            raise SourceFailed("download failed: the compressed body is truncated")


class HttpStatus(SourceFailed):
    """The server answered with an error status."""

    def __init__(self, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s  # how long the server asked us to wait (a 429's or 503's Retry-After)


class HttpUnavailable(HttpStatus, SourceUnavailable):
    """An error status that says to come back later: 408, 429 or a 5xx."""


def http_status(status: int, retry_after: str | None = None) -> HttpStatus:
    if status in (408, 429) or status >= 500:
        given = (retry_after or "").strip()
        seconds = float(given) if given.isascii() and given.isdigit() else None  # "²" is a digit too
        return HttpUnavailable(status, seconds)
    return HttpStatus(status)


def expand_url(
    url: str, settings: Settings, seen: Mapping[str, Seen] | None = None, listing: Listing | None = None
) -> list[SourceDocument]:
    _check_url(url)
    path = urlsplit(url).path.lower()
    if path.endswith((".xml", ".xml.gz")):  # a sitemap names the pages to index: fetched now to find out
        from cdgpt.ingest.sources.sitemap import expand_sitemap

        return expand_sitemap(url, settings, seen or {}, listing)
    return [SourceDocument(url, partial(fetch_url, url, settings, (seen or {}).get(url)))]


def _conditions(seen: Seen | None) -> dict[str, str]:
    """Headers asking the server to answer 304 when the document has not changed since `seen`."""
    headers = {}
    if seen and seen.etag:
        headers["If-None-Match"] = seen.etag
    if seen and seen.last_modified:
        headers["If-Modified-Since"] = seen.last_modified
    return headers


def _follow(
    session: requests.Session, url: str, deadline: float, read_timeout: float, headers: dict[str, str]
) -> requests.Response:
    """GET url, following redirects ourselves: a redirect's body is never read, each hop is checked."""
    for _ in range(MAX_REDIRECTS + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise SourceUnavailable("download took too long")
        try:
            response = session.get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(min(5, left), min(read_timeout, left)),
            )
        except requests.RequestException as exc:
            raise SourceUnavailable(f"fetch failed: {type(exc).__name__}") from exc
        if not response.is_redirect:
            return response
        response.close()
        url = urljoin(response.url, response.headers["location"])
        _check_url(url)
    raise SourceFailed(f"more than {MAX_REDIRECTS} redirects")


def fetch_url(url: str, settings: Settings, seen: Seen | None = None) -> RawDocument:
    """GET url within the size and time caps; with `seen`, a conditional request (NotModified on 304)."""
    _check_url(url)
    limit = settings.max_source_bytes
    deadline = time.monotonic() + settings.fetch_timeout_s * 3
    with _cut_at(deadline), guarded_session(settings.allow_private_urls) as session:
        try:
            response = _follow(session, url, deadline, settings.fetch_timeout_s, _conditions(seen))
        except SourceFailed as exc:
            if time.monotonic() > deadline:  # cut by the watchdog
                raise SourceUnavailable("download took too long") from exc
            raise
        with response:
            if response.status_code == 304 and seen:
                raise NotModified(url)
            if response.status_code >= 400:
                raise http_status(response.status_code, response.headers.get("retry-after"))
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise PayloadTooLarge(f"larger than the {limit}-byte limit")
            decoder = _Decoder(response.headers.get("content-encoding", ""))
            body = bytearray()
            try:
                # read1 makes at most one socket read per call (iter_content would wait for a whole
                # block), and the deadline is checked after each, even when a read decodes to nothing.
                # Decoding is ours and bounded, so the cap applies to the decoded bytes.
                while block := response.raw.read1(64 * 1024, decode_content=False):
                    body += decoder.feed(block, limit + 1 - len(body))
                    if len(body) > limit:
                        raise PayloadTooLarge(f"larger than the {limit}-byte limit")
                    if time.monotonic() > deadline:
                        raise SourceUnavailable("download took too long")
                if time.monotonic() > deadline:  # the watchdog cut the body short: no end of it was read
                    raise SourceUnavailable("download took too long")
                decoder.finish()
            except (requests.RequestException, urllib3.exceptions.HTTPError, zlib.error) as exc:
                if time.monotonic() > deadline:  # the watchdog cut a body that came too slowly
                    raise SourceUnavailable("download took too long") from exc
                raise SourceUnavailable(f"download failed: {type(exc).__name__}") from exc
            return RawDocument(
                source=url,
                content=bytes(body),
                content_type=response.headers.get("content-type"),
                name=urlsplit(response.url).path or "/",
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                url=response.url,
            )
