"""Token usage: what one chat or one training cost, and daily totals per model.

A `metering()` block collects what the embedder and the language model report while it runs
(`record_embedding`, `record_completion`); code outside a block records nothing. OpenAI-compatible
servers report tokens in each response. The local embedder reports none: its tokens cost nothing and
are not counted, so `embedding_tokens` stays null for it.

Daily totals per model are kept in the artifact store, one small record per model and UTC day,
updated with a conditional write after each chat and each training (retried with a random backoff; the
CloudWatch metrics are the exact count when many chats of one model race for the same record):

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

from pydantic import BaseModel, Field

from cdgpt.errors import ConcurrentUpdate
from cdgpt.models.store import ArtifactStore

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


def _read(found: tuple[bytes, str] | None, day: date) -> DailyUsage:
    if found is None:
        return DailyUsage(date=day.isoformat())
    record = json.loads(found[0])
    record.pop("format", None)
    return DailyUsage.model_validate({**record, "date": day.isoformat()})


def add_usage(store: ArtifactStore, model_name: str, usage: Usage, *, chats: int = 0, trainings: int = 0) -> None:
    """Add one chat's or training's usage to the model's record for today. Never raises: usage is
    bookkeeping, and a failure to count is logged rather than failing the answer."""
    day = datetime.now(UTC).date()
    key = _key(model_name, day)
    step = DailyUsage(
        chats=chats,
        trainings=trainings,
        embedding_tokens=usage.embedding_tokens or 0,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        llm_models={usage.llm_model: usage.prompt_tokens + usage.completion_tokens} if usage.llm_model else {},
    )
    try:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            found = store.get(key)
            record = _read(found, day)
            record.add(step)
            data = {"format": FORMAT, **record.model_dump(exclude={"date"})}
            try:
                store.put_if(key, json.dumps(data).encode(), found[1] if found else None)
                return
            except ConcurrentUpdate:
                time.sleep(random.uniform(0, BACKOFF_S * attempt))  # noqa: S311 - jitter, not a secret
                continue
        log.warning("usage not counted: the day's record kept changing", extra={"model_name": model_name})
    except Exception:
        log.warning("usage not counted", extra={"model_name": model_name}, exc_info=True)


def summary(store: ArtifactStore, model_name: str, days: int = 30, today: date | None = None) -> UsageSummary:
    """The model's daily totals for the last `days` days (today included), and their sum."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=min(max(days, 1), MAX_DAYS) - 1)
    found: list[DailyUsage] = []
    for key in store.keys(f"{PREFIX}{model_name}/"):
        name = key.rpartition("/")[2].removesuffix(".json")
        try:
            day = date.fromisoformat(name)
        except ValueError:
            continue
        if first <= day <= today:
            try:
                found.append(_read(store.get(key), day))
            except ValueError:
                log.warning("an unreadable usage record was skipped", extra={"model_name": model_name})
    found.sort(key=lambda d: d.date or "")
    total = DailyUsage()
    for day_usage in found:
        total.add(day_usage)
    return UsageSummary(model_name=model_name, days=found, total=total)


def models_with_usage(store: ArtifactStore) -> list[str]:
    return sorted({key[len(PREFIX) :].partition("/")[0] for key in store.keys(PREFIX)})
