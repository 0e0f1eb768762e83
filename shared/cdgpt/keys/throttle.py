"""A request rate per key: at most N requests in a window of 60 s that starts at the key's first request;
and wrong API secrets per client address, counted the same way, past which the address's secret is refused
without being compared (a weak API secret cannot be guessed at the API's whole rate).

Where the counters live:
- CDGPT_RATE_TABLE (the stack): a DynamoDB item per key, counted with one conditional UpdateItem per
  request, exact across every container; items expire by TTL.
- no bucket (`cdgpt serve`, the CLI): a row per key in the local folder's counter table (SQLite,
  `models/counters.py`), exact across the server's worker processes.
- a bucket without a table (`sam local`): counters in the process, so per container and approximate.
API Gateway's stage throttling (ApiRateLimit, ApiBurstLimit) bounds the whole API in front of this.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from cdgpt.errors import ConcurrentUpdate, Throttled, UpstreamError
from cdgpt.models import counters
from cdgpt.settings import Settings

WINDOW_S = 60.0
PREFIX = "throttle/"


@dataclass(frozen=True)
class Window:
    started: float  # epoch seconds of the window's first request
    hits: int


def admit(window: Window | None, now: float, limit: int) -> tuple[Window, float | None]:
    """The window after one more request, and how long to wait when it is over the limit (None: admitted)."""
    if window is None or now >= window.started + WINDOW_S or now < window.started:
        return Window(now, 1), None
    if window.hits < limit:
        return Window(window.started, window.hits + 1), None
    return window, window.started + WINDOW_S - now


def over(window: Window | None, now: float, limit: int) -> float | None:
    """How long to wait when the window is at its limit now (None: the next request would be admitted)."""
    if window is None or now >= window.started + WINDOW_S or now < window.started or window.hits < limit:
        return None
    return window.started + WINDOW_S - now


class Limiter(Protocol):
    def hit(self, key_id: str, limit: int, now: float) -> float | None:
        """Count a request; the seconds to wait when the key is over its limit, else None."""
        ...

    def wait(self, key_id: str, limit: int, now: float) -> float | None:
        """The seconds to wait when the key is at its limit now, else None; nothing is counted."""
        ...


class MemoryLimiter:
    PRUNE_ABOVE = 10_000  # windows held before the ended ones are dropped

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}
        self.lock = threading.Lock()

    def hit(self, key_id: str, limit: int, now: float) -> float | None:
        with self.lock:
            if len(self.windows) >= self.PRUNE_ABOVE:
                self.windows = {k: w for k, w in self.windows.items() if now < w.started + WINDOW_S}
            self.windows[key_id], wait = admit(self.windows.get(key_id), now, limit)
        return wait

    def wait(self, key_id: str, limit: int, now: float) -> float | None:
        with self.lock:
            return over(self.windows.get(key_id), now, limit)


class LocalLimiter:
    """Windows in a local folder's counter table (`models/counters.py`): one transaction per request."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def hit(self, key_id: str, limit: int, now: float) -> float | None:
        with counters.transaction(self.root) as db:
            found = db.execute("SELECT started, hits FROM windows WHERE key_id = ?", (key_id,)).fetchone()
            after, wait = admit(Window(*found) if found else None, now, limit)
            if after.hits == 1:  # a window opens: the ended ones go (every key's and address's)
                db.execute("DELETE FROM windows WHERE started <= ?", (now - WINDOW_S,))
            if wait is None:
                db.execute(
                    "INSERT INTO windows VALUES (?, ?, ?)"
                    " ON CONFLICT DO UPDATE SET started = excluded.started, hits = excluded.hits",
                    (key_id, after.started, after.hits),
                )
        return wait

    def wait(self, key_id: str, limit: int, now: float) -> float | None:
        with counters.transaction(self.root) as db:
            found = db.execute("SELECT started, hits FROM windows WHERE key_id = ?", (key_id,)).fetchone()
        return over(Window(*found) if found else None, now, limit)


class DynamoLimiter:
    """One item per key: `hits` counted by a conditional UpdateItem, reset by a conditional PutItem."""

    def __init__(self, table: str) -> None:
        self.table = table

    def hit(self, key_id: str, limit: int, now: float) -> float | None:
        from botocore.exceptions import BotoCoreError, ClientError

        from cdgpt.clients import dynamodb_client

        client = dynamodb_client()
        key = {"key_id": {"S": key_id}}
        try:
            for _ in range(3):
                try:
                    client.update_item(
                        TableName=self.table,
                        Key=key,
                        UpdateExpression="ADD hits :one SET started = if_not_exists(started, :now), "
                        "expires_at = if_not_exists(expires_at, :expires)",
                        ConditionExpression="attribute_not_exists(hits) OR (hits < :limit AND started > :since)",
                        ExpressionAttributeValues={
                            ":one": {"N": "1"},
                            ":now": {"N": repr(now)},
                            ":expires": {"N": str(math.ceil(now + 2 * WINDOW_S))},
                            ":limit": {"N": str(limit)},
                            ":since": {"N": repr(now - WINDOW_S)},
                        },
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
                    return None
                except client.exceptions.ConditionalCheckFailedException as exc:
                    old: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
                    window = Window(float(old["started"]["N"]), int(old["hits"]["N"]))
                _, wait = admit(window, now, limit)
                if wait is not None:
                    return wait
                if self._restart(client, key, window, now):  # the last window is over: this request opens one
                    return None
            raise ConcurrentUpdate(f"the request counter of key {key_id} kept changing")
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"DynamoDB failed: {type(exc).__name__}") from exc

    def wait(self, key_id: str, limit: int, now: float) -> float | None:
        from botocore.exceptions import BotoCoreError, ClientError

        from cdgpt.clients import dynamodb_client

        try:
            key = {"key_id": {"S": key_id}}
            item = dynamodb_client().get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"DynamoDB failed: {type(exc).__name__}") from exc
        window = Window(float(item["started"]["N"]), int(item["hits"]["N"])) if item else None
        return over(window, now, limit)

    def _restart(self, client, key: dict, old: Window, now: float) -> bool:
        try:
            client.put_item(
                TableName=self.table,
                Item={
                    **key,
                    "hits": {"N": "1"},
                    "started": {"N": repr(now)},
                    "expires_at": {"N": str(math.ceil(now + 2 * WINDOW_S))},
                },
                ConditionExpression="started = :old",
                ExpressionAttributeValues={":old": {"N": repr(old.started)}},
            )
            return True
        except client.exceptions.ConditionalCheckFailedException:
            return False  # another request restarted it first: count again


@lru_cache(maxsize=1)
def _memory() -> MemoryLimiter:
    return MemoryLimiter()


def limiter(settings: Settings) -> Limiter:
    if settings.rate_table:
        return DynamoLimiter(settings.rate_table)
    if settings.artifacts_bucket:
        return _memory()
    return LocalLimiter(settings.data_dir)


def check_rate(key_id: str, limit: int, settings: Settings) -> None:
    """Count one request of the key; Throttled (with whole seconds to wait) when it is over its limit."""
    wait = limiter(settings).hit(key_id, limit, time.time())
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise Throttled(f"key {key_id} is limited to {limit} requests a minute; retry in {seconds} s", seconds)


FAILURES = "auth-failures/"  # the counter of an address's wrong secrets (key ids are never so named)
FAILED_ENTRIES = 10_000
_failed: dict[str, float] = {}  # addresses this process saw send a wrong secret, and when last
_failed_lock = threading.Lock()


def check_failures(address: str, limit: int, settings: Settings) -> None:
    """Throttled when the address sent a wrong secret `limit` times in its window. Only an address this
    process saw fail lately is looked up: the other requests cost nothing (a process that has not seen an
    address fail lets one more attempt through, and counts it)."""
    now, address = time.time(), _client(address)
    with _failed_lock:
        last = _failed.get(address)
    if last is None or now - last > WINDOW_S:
        return
    wait = limiter(settings).wait(FAILURES + address, limit, now)
    if wait is not None:
        with _failed_lock:  # still guessing: the last to be forgotten
            _failed[address] = _failed.pop(address, last)
        seconds = max(1, math.ceil(wait))
        raise Throttled(f"too many wrong secrets from this address; retry in {seconds} s", seconds)


def count_failure(address: str, limit: int, settings: Settings) -> None:
    """Count a wrong secret from the address."""
    now, address = time.time(), _client(address)
    with _failed_lock:
        _failed.pop(address, None)  # kept in the order they last failed or were refused: the oldest go first
        _failed[address] = now
        if len(_failed) > FAILED_ENTRIES:
            for stale in list(_failed)[: len(_failed) - FAILED_ENTRIES // 2]:
                del _failed[stale]
    limiter(settings).hit(FAILURES + address, limit, now)


def _client(address: str) -> str:
    """The address counted: an IPv6 one by its /64 (what one client is given), an IPv4 one as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        return str(mapped) if mapped is not None else str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def forget_all() -> None:
    """Drop the in-process counters (tests)."""
    _memory.cache_clear()
    with _failed_lock:
        _failed.clear()
