"""Politeness for crawls and sitemaps: a site's robots.txt, and a bound on requests in flight per host."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from cdgpt.errors import CdgptError, SourceUnavailable, source_failure
from cdgpt.ingest.sources.url import USER_AGENT, HttpStatus, fetch_url
from cdgpt.limits import HOST_CONCURRENCY
from cdgpt.settings import Settings

ROBOTS_BYTES = 512 * 1024  # the part of a robots.txt that is read, as the big crawlers do
MAX_DELAY_S = 10.0  # a Crawl-delay above this is taken as this


class Robots:
    """The rules of one site's robots.txt for our user agent (`custom-data-gpt`, or `*`), read as RFC 9309
    says (Protego): `*` and `$` in paths, and the longest matching rule wins (an Allow on a tie)."""

    def __init__(self, text: str | None, disallow_all: bool = False) -> None:
        from protego import Protego

        self._parser = Protego.parse(text or "")
        self._refused = disallow_all

    @classmethod
    def load(cls, origin: str, settings: Settings) -> Robots:
        """Fetch origin/robots.txt: a 4xx means no rules (401 and 403: no crawling); a 5xx or no answer
        stops the crawl, since the rules cannot be known."""
        try:
            raw = fetch_url(f"{origin}/robots.txt", settings)
        except HttpStatus as exc:
            if exc.status in (401, 403):
                return cls(None, disallow_all=True)
            if exc.status < 500:
                return cls(None)
            raise SourceUnavailable(f"{origin}/robots.txt answered HTTP {exc.status}; not crawling") from exc
        except CdgptError as exc:
            raise source_failure(exc)(f"{origin}/robots.txt could not be read ({exc}); not crawling") from exc
        return cls(raw.content[:ROBOTS_BYTES].decode("utf-8", "replace"))

    def allowed(self, url: str) -> bool:
        return not self._refused and self._parser.can_fetch(url, USER_AGENT)

    @property
    def delay_s(self) -> float:
        delay = self._parser.crawl_delay(USER_AGENT)
        return min(float(delay), MAX_DELAY_S) if delay else 0.0


MAX_PAUSE_S = 60.0  # the longest a host's Retry-After holds its requests back


class HostGate:
    """At most HOST_CONCURRENCY requests in flight to one host, from every crawl in this process; with
    an interval, request starts are spaced by it; after a pause (the host's Retry-After), none starts."""

    def __init__(self) -> None:
        self._slots = threading.BoundedSemaphore(HOST_CONCURRENCY)
        self._lock = threading.Lock()
        self._next_start = 0.0

    @contextmanager
    def slot(self, interval_s: float) -> Iterator[None]:
        with self._slots:
            with self._lock:  # spaced by the interval, and held back while the host asked for a pause
                now = time.monotonic()
                start = max(now, self._next_start)
                if interval_s > 0:
                    self._next_start = start + interval_s
            if start > now:
                time.sleep(start - now)
            yield

    def pause(self, seconds: float) -> None:
        """No request starts for `seconds` (at most MAX_PAUSE_S): the host asked to be left alone (429)."""
        with self._lock:
            self._next_start = max(self._next_start, time.monotonic() + min(seconds, MAX_PAUSE_S))


_gates: dict[str, HostGate] = {}
_gates_lock = threading.Lock()


def host_gate(origin: str) -> HostGate:
    with _gates_lock:
        return _gates.setdefault(origin, HostGate())
