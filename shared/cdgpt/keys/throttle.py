"""A request rate per key: at most N requests in a window of 60 s that starts at the key's first request.

Where the counters live:
- CDGPT_RATE_TABLE (the stack): a DynamoDB item per key, counted with one conditional UpdateItem per
  request, exact across every container; items expire by TTL.
- no bucket (`cdgpt serve`, the CLI): a counter file per key in the local artifact folder, read and
  rewritten under its lock, exact across the server's worker processes.
- a bucket without a table (`sam local`): counters in the process, so per container and approximate.
API Gateway's stage throttling (ApiRateLimit, ApiBurstLimit) bounds the whole API in front of this.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from cdgpt.errors import ConcurrentUpdate, Throttled, UpstreamError
from cdgpt.models.store import ArtifactStore, LocalStore
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


class Limiter(Protocol):
    def hit(self, key_id: str, limit: int, now: float) -> float | None:
        """Count a request; the seconds to wait when the key is over its limit, else None."""
        ...


class MemoryLimiter:
    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}
        self.lock = threading.Lock()

    def hit(self, key_id: str, limit: int, now: float) -> float | None:
        with self.lock:
            self.windows[key_id], wait = admit(self.windows.get(key_id), now, limit)
        return wait


class StoreLimiter:
    """Counters in an artifact store, each read and written under its lock (a local folder: a file lock
    and a rename)."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def hit(self, key_id: str, limit: int, now: float) -> float | None:
        wait: float | None = None

        def counted(found: bytes | None) -> bytes | None:
            nonlocal wait
            after, wait = admit(Window(**json.loads(found)) if found else None, now, limit)
            return None if wait is not None else json.dumps(after.__dict__).encode()

        for _ in range(20):
            try:
                self.store.update(f"{PREFIX}{key_id}.json", counted)
                return wait
            except ConcurrentUpdate:
                continue
        raise ConcurrentUpdate(f"the request counter of key {key_id} kept changing")


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
    return StoreLimiter(LocalStore(settings.data_dir))


def check_rate(key_id: str, limit: int, settings: Settings) -> None:
    """Count one request of the key; Throttled (with whole seconds to wait) when it is over its limit."""
    wait = limiter(settings).hit(key_id, limit, time.time())
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise Throttled(f"key {key_id} is limited to {limit} requests a minute; retry in {seconds} s", seconds)


def forget_all() -> None:
    """Drop the in-process counters (tests)."""
    _memory.cache_clear()
