"""Conversations the server keeps, for clients that send a `conversation_id` instead of the history.

    conversations/<model>/<owner>/<id>.json     {"format": 1, "updated_at": "<ISO time>", "history": [...]}

in the artifact store beside the models. A conversation belongs to its model and to the key that keeps it
(its owner: the key's id): the same id with another model or another key is another conversation, so a
key never reads or overwrites what was asked with another, whatever ids it tries. Each is bounded (the last KEPT_ITEMS items, at most
KEPT_CHARS characters, a long item cut to ITEM_CHARS) and expires CDGPT_CONVERSATION_HOURS after its
last turn: an expired one reads as empty, and on S3 a lifecycle rule deletes the prefix's objects a
day after their last write. Two requests of one conversation at once: the last to finish wins (its
history replaces the other's turn).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

from cdgpt.errors import InvalidRequest
from cdgpt.limits import MAX_HISTORY_CHARS, MAX_HISTORY_ITEM_CHARS, MAX_HISTORY_ITEMS
from cdgpt.models.registry import check_model_name, current
from cdgpt.models.store import ArtifactStore
from cdgpt.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "conversations/"
FORMAT = 1
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{16,128}$")  # e.g. a UUID: hard to guess, safe in a key
OWNER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a key's id
KEPT_ITEMS = 20  # ten turns of question and answer
KEPT_CHARS = 24_000
ITEM_CHARS = 4_000


def check_id(conversation_id: object) -> str:
    if not isinstance(conversation_id, str) or not CONVERSATION_ID.fullmatch(conversation_id):
        raise InvalidRequest("conversation_id must be 16 to 128 letters, digits, '-' or '_' (a UUID, for instance)")
    return conversation_id


def key(model_name: str, owner: str, conversation_id: str) -> str:
    if not OWNER.fullmatch(owner):
        raise ValueError("a conversation's owner is a key's id")
    return f"{PREFIX}{check_model_name(model_name)}/{owner}/{check_id(conversation_id)}.json"


def forget_model(store: ArtifactStore, model_name: str) -> None:
    """Delete every conversation kept with the model (a deleted model's answers quote its documents, and a
    new model of the same name must not find them)."""
    folder = f"{PREFIX}{check_model_name(model_name)}/"
    store.delete(store.keys(folder))
    store.tidy(folder)


def load(
    store: ArtifactStore,
    model_name: str,
    owner: str,
    conversation_id: str,
    settings: Settings,
    now: datetime | None = None,
) -> list[str]:
    """The kept history, or none when the conversation is new, expired or unreadable."""
    found = store.get(key(model_name, owner, conversation_id))
    history = None if found is None else _live(found[0], settings, now or datetime.now(UTC))
    return [] if history is None else bound(history)


def forget_expired(store: ArtifactStore, settings: Settings, now: datetime | None = None) -> int:
    """Delete every conversation past CDGPT_CONVERSATION_HOURS (or unreadable), as the stack's lifecycle
    rule does on S3: `cdgpt serve` runs it for its folder every hour. Returns how many went."""
    now = now or datetime.now(UTC)
    gone = [k for k in store.keys(PREFIX) if (found := store.get(k)) and _live(found[0], settings, now) is None]
    store.delete(gone)
    return len(gone)


def _live(data: bytes, settings: Settings, now: datetime) -> list[str] | None:
    """A kept conversation's history, or None when it expired or cannot be read."""
    try:
        record = json.loads(data)
        age = now - datetime.fromisoformat(record["updated_at"])  # a time without its zone: TypeError
        history = record["history"]
        if not isinstance(history, list) or not all(isinstance(item, str) for item in history):
            raise TypeError("history must be a list of strings")
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("a kept conversation is unreadable (%s)", type(exc).__name__)  # ids are secrets
        return None
    return None if age > timedelta(hours=settings.conversation_hours) else history


def save(
    store: ArtifactStore,
    model_name: str,
    owner: str,
    conversation_id: str,
    history: list[str],
    now: datetime | None = None,
) -> list[str]:
    """Keep the history (bounded); returns what was kept. A model deleted meanwhile (its tombstone written
    before its conversations are forgotten) does not keep it: a new model of its name must not find it."""
    kept = bound(history)
    record = {"format": FORMAT, "updated_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(), "history": kept}
    where = key(model_name, owner, conversation_id)
    store.put(where, json.dumps(record, ensure_ascii=False).encode())
    if current(store, model_name).manifest is None:
        store.delete([where])
    return kept


def bound(history: list[str]) -> list[str]:
    """The most recent items that fit KEPT_ITEMS and KEPT_CHARS, each cut to ITEM_CHARS."""
    return latest(history, KEPT_CHARS, ITEM_CHARS, KEPT_ITEMS)


def recent_turns(history: list[str], budget: int) -> list[str]:
    """The latest items within `budget` characters, for a prompt. Each is cut to half the budget, so a
    long answer never crowds out the question before it."""
    return latest(history, budget, budget // 2)


def echoable[Item: (str, str | None)](history: list[Item]) -> list[Item]:
    """The latest items a client may send back as its next request's history (the request's limits): a
    long conversation loses its oldest turns instead of being refused. An original client's nulls stay."""
    return latest(history, MAX_HISTORY_CHARS, MAX_HISTORY_ITEM_CHARS, MAX_HISTORY_ITEMS)


def latest[Item: (str, str | None)](
    history: list[Item], chars: int, item_chars: int, items: int | None = None
) -> list[Item]:
    """The most recent items (`items` at most) that fit in `chars` characters, each cut to `item_chars`."""
    kept: list[Item] = []
    used = 0
    for item in reversed(history[-items:] if items else history):
        if item is not None and len(item) > item_chars:
            item = item[: item_chars - 1] + "…"
        used += len(item or "")
        if used > chars:
            break
        kept.insert(0, item)
    return kept
