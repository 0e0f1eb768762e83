"""Token usage: what one chat or one training cost, and daily totals per model.

A `metering()` block collects what the embedder and the language model report while it runs
(`record_embedding`, `record_completion`); code outside a block records nothing. OpenAI-compatible
servers report tokens in each response. The local embedder reports none: its tokens cost nothing and
are not counted, so `embedding_tokens` stays null for it.

Daily totals per model and UTC day are added to after each chat and each training:
- in the stack, in the counter table (CDGPT_RATE_TABLE, DynamoDB): one item per model and day,
  `usage#<model_name>#<YYYY-MM-DD>`, added to with one atomic UpdateItem (no read, no retry, no
  contention between chats of one model); items expire after MAX_DAYS;
- in a local artifact folder (`cdgpt serve`, the CLI), in its counter table (SQLite,
  `models/counters.py`): a row per model, day and counter, added to in one statement;
- otherwise (a bucket without a table), one small record per model and day in the artifact store,
  updated with a conditional write (retried with a random backoff; with many chats of one model racing
  for the record, an update can give up, logged; the CloudWatch metrics stay exact). A local folder's
  records of this kind, from before the SQLite table, are still counted:

    usage/<model_name>/<YYYY-MM-DD>.json    {"format": 1, "chats", "trainings", "embedding_tokens",
                                             "prompt_tokens", "completion_tokens", "llm_models"}
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field

from cdgpt.errors import ConcurrentUpdate
from cdgpt.models import counters
from cdgpt.models.store import ArtifactStore, LocalStore
from cdgpt.settings import get_settings

log = logging.getLogger(__name__)

PREFIX = "usage/"
FORMAT = 1
WRITE_ATTEMPTS = 10  # conditional writes tried before a day's record gives up one update (logged)
BACKOFF_S = 0.005  # a random wait up to this times the attempt, between attempts
MAX_DAYS = 366


class Usage(BaseModel):
    """What one chat or one training used."""

    embedding_model: str | None = None
    embedding_tokens: int | None = Field(
        None, description="tokens embedded (OpenAI-compatible servers); null for the local embedder, which counts none"
    )
    llm_model: str | None = Field(None, description="the language model that answered, if one was asked")
    prompt_tokens: int = 0
    completion_tokens: int = 0


_meter: ContextVar[Usage | None] = ContextVar("usage_meter", default=None)


@contextmanager
def metering() -> Iterator[Usage]:
    """Collect what is used inside the block into the Usage it yields."""
    usage = Usage()
    token = _meter.set(usage)
    try:
        yield usage
    finally:
        _meter.reset(token)


def record_embedding(model: str, tokens: int | None) -> None:
    usage = _meter.get()
    if usage is None:
        return
    usage.embedding_model = model
    if tokens is not None:
        usage.embedding_tokens = (usage.embedding_tokens or 0) + tokens


def record_completion(model: str, prompt_tokens: int | None, completion_tokens: int | None) -> None:
    usage = _meter.get()
    if usage is None:
        return
    usage.llm_model = model
    usage.prompt_tokens += prompt_tokens or 0
    usage.completion_tokens += completion_tokens or 0


class DailyUsage(BaseModel):
    """One model's totals for one UTC day (or, in `UsageSummary.total`, for the days asked)."""

    date: str | None = None
    chats: int = 0
    trainings: int = 0
    embedding_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_models: dict[str, int] = Field({}, description="completion and prompt tokens per language model")

    def add(self, other: DailyUsage) -> None:
        for name in ("chats", "trainings", "embedding_tokens", "prompt_tokens", "completion_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for model, tokens in other.llm_models.items():
            self.llm_models[model] = self.llm_models.get(model, 0) + tokens


class UsageSummary(BaseModel):
    model_name: str
    days: list[DailyUsage]  # oldest first, only days with any use
    total: DailyUsage


def _key(model_name: str, day: date) -> str:
    return f"{PREFIX}{model_name}/{day.isoformat()}.json"


def _read(found: bytes | None, day: date) -> DailyUsage:
    if found is None:
        return DailyUsage(date=day.isoformat())
    record = json.loads(found)
    record.pop("format", None)
    return DailyUsage.model_validate({**record, "date": day.isoformat()})


def add_usage(store: ArtifactStore, model_name: str, usage: Usage, *, chats: int = 0, trainings: int = 0) -> None:
    """Add one chat's or training's usage to the model's total for today. Never raises: usage is
    bookkeeping, and a failure to count is logged rather than failing the answer."""
    step = DailyUsage(
        chats=chats,
        trainings=trainings,
        embedding_tokens=usage.embedding_tokens or 0,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        llm_models={usage.llm_model: usage.prompt_tokens + usage.completion_tokens} if usage.llm_model else {},
    )
    try:
        _totals(store).add(model_name, datetime.now(UTC).date(), step)
    except Exception:
        log.warning("usage not counted", extra={"model_name": model_name}, exc_info=True)


def summary(store: ArtifactStore, model_name: str, days: int = 30, today: date | None = None) -> UsageSummary:
    """The model's daily totals for the last `days` days (today included), and their sum."""
    today = today or datetime.now(UTC).date()
    wanted = [today - timedelta(days=n) for n in range(min(max(days, 1), MAX_DAYS) - 1, -1, -1)]
    found = [d for d in _totals(store).read(model_name, wanted) if d.chats or d.trainings]
    total = DailyUsage()
    for day_usage in found:
        total.add(day_usage)
    return UsageSummary(model_name=model_name, days=found, total=total)


def models_with_usage(store: ArtifactStore) -> list[str]:
    return _totals(store).models()


class Totals(Protocol):
    def add(self, model_name: str, day: date, step: DailyUsage) -> None: ...

    def read(self, model_name: str, days: list[date]) -> list[DailyUsage]:
        """The days' totals, oldest first (days without a record are left out)."""
        ...

    def models(self) -> list[str]: ...


def _totals(store: ArtifactStore) -> Totals:
    table = get_settings().rate_table
    if table:
        return TableTotals(table)
    return LocalTotals(store) if isinstance(store, LocalStore) else StoreTotals(store)


class StoreTotals:
    """A record per model and day in the artifact store, changed by compare-and-swap."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def add(self, model_name: str, day: date, step: DailyUsage) -> None:
        def added(found: bytes | None) -> bytes:
            record = _read(found, day)
            record.add(step)
            return json.dumps({"format": FORMAT, **record.model_dump(exclude={"date"})}).encode()

        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self.store.update(_key(model_name, day), added)
                return
            except ConcurrentUpdate:
                time.sleep(random.uniform(0, BACKOFF_S * attempt))  # noqa: S311 - jitter, not a secret
        log.warning("usage not counted: the day's record kept changing", extra={"model_name": model_name})

    def read(self, model_name: str, days: list[date]) -> list[DailyUsage]:
        wanted = set(days)
        found: list[DailyUsage] = []
        for key in self.store.keys(f"{PREFIX}{model_name}/"):
            try:
                day = date.fromisoformat(key.rpartition("/")[2].removesuffix(".json"))
                stored = self.store.get(key) if day in wanted else None
                if stored is not None:
                    found.append(_read(stored[0], day))
            except ValueError:
                log.warning("an unreadable usage record was skipped", extra={"model_name": model_name})
        return sorted(found, key=lambda d: d.date or "")

    def models(self) -> list[str]:
        return sorted({key[len(PREFIX) :].partition("/")[0] for key in self.store.keys(PREFIX)})


COUNTS = ("chats", "trainings", "embedding_tokens", "prompt_tokens", "completion_tokens")
LLM = "llm:"  # a counter per language model (an item's attribute, a table's row): its prompt and completion tokens


def _amounts(step: DailyUsage) -> dict[str, int]:
    """A day's usage as named counters: COUNTS, and LLM + model for each language model."""
    return {name: getattr(step, name) for name in COUNTS} | {LLM + m: n for m, n in step.llm_models.items()}


def _from_amounts(day: str, numbers: dict[str, int]) -> DailyUsage:
    return DailyUsage(
        date=day,
        llm_models={name[len(LLM) :]: n for name, n in numbers.items() if name.startswith(LLM)},
        **{name: numbers.get(name, 0) for name in COUNTS},
    )


class LocalTotals:
    """The local folder's counter table (`models/counters.py`): a row per model, day and counter, added to
    in one statement; records of `StoreTotals` (from before the table) are added in."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store

    def add(self, model_name: str, day: date, step: DailyUsage) -> None:
        rows = [(model_name, day.isoformat(), name, n) for name, n in _amounts(step).items() if n]
        with counters.transaction(self.store.root) as db:  # the step's counters change together
            db.executemany(
                "INSERT INTO usage VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET amount = amount + excluded.amount",
                rows,
            )

    def read(self, model_name: str, days: list[date]) -> list[DailyUsage]:
        by_day: dict[str, dict[str, int]] = {}
        wanted = [day.isoformat() for day in days]
        for start in range(0, len(wanted), 500):  # under SQLite's limit of bound parameters
            part = wanted[start : start + 500]
            rows = counters.connect(self.store.root).execute(
                f"SELECT day, counter, amount FROM usage WHERE model = ? AND day IN ({', '.join('?' * len(part))})",  # noqa: S608 - placeholders only
                [model_name, *part],
            )
            for day, counter, amount in rows:
                by_day.setdefault(day, {})[counter] = amount
        found = {day: _from_amounts(day, numbers) for day, numbers in by_day.items()}
        for earlier in StoreTotals(self.store).read(model_name, days):
            found.setdefault(earlier.date or "", DailyUsage(date=earlier.date)).add(earlier)
        return sorted(found.values(), key=lambda d: d.date or "")

    def models(self) -> list[str]:
        names = {name for (name,) in counters.connect(self.store.root).execute("SELECT DISTINCT model FROM usage")}
        return sorted(names | set(StoreTotals(self.store).models()))


class TableTotals:
    """An item per model and day in the counter table, added to with one atomic UpdateItem."""

    def __init__(self, table: str) -> None:
        self.table = table

    @staticmethod
    def _id(model_name: str, day: date) -> dict[str, Any]:
        return {"key_id": {"S": f"usage#{model_name}#{day.isoformat()}"}}

    def add(self, model_name: str, day: date, step: DailyUsage) -> None:
        from cdgpt.clients import dynamodb_client

        amounts = _amounts(step)
        names = {f"#a{i}": name for i, name in enumerate(amounts)}
        values: dict[str, Any] = {f":a{i}": {"N": str(n)} for i, n in enumerate(amounts.values())}
        values[":expires"] = {
            "N": str(int(datetime.combine(day, datetime.min.time(), UTC).timestamp()) + 86400 * MAX_DAYS)
        }
        adds = ", ".join(f"#a{i} :a{i}" for i in range(len(amounts)))
        dynamodb_client().update_item(
            TableName=self.table,
            Key=self._id(model_name, day),
            UpdateExpression=f"ADD {adds} SET expires_at = if_not_exists(expires_at, :expires)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def read(self, model_name: str, days: list[date]) -> list[DailyUsage]:
        from cdgpt.clients import dynamodb_client

        found: list[DailyUsage] = []
        for start in range(0, len(days), 100):  # BatchGetItem takes 100 keys
            keys = [self._id(model_name, day) for day in days[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": keys}}
            while request:
                answer = dynamodb_client().batch_get_item(RequestItems=request)
                found.extend(self._usage(item) for item in answer.get("Responses", {}).get(self.table, []))
                request = answer.get("UnprocessedKeys") or {}
        return sorted(found, key=lambda d: d.date or "")

    @staticmethod
    def _usage(item: dict[str, Any]) -> DailyUsage:
        numbers = {name: int(value["N"]) for name, value in item.items() if "N" in value}
        return _from_amounts(item["key_id"]["S"].rpartition("#")[2], numbers)

    def models(self) -> list[str]:
        from cdgpt.clients import dynamodb_client

        names: set[str] = set()
        pages = (
            dynamodb_client()
            .get_paginator("scan")
            .paginate(
                TableName=self.table,
                ProjectionExpression="key_id",
                FilterExpression="begins_with(key_id, :usage)",
                ExpressionAttributeValues={":usage": {"S": "usage#"}},
            )
        )
        for page in pages:
            names.update(item["key_id"]["S"].split("#")[1] for item in page.get("Items", []))
        return sorted(names)
