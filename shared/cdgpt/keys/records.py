"""API keys, stored where the models are (`keys/<key_id>.json`), holding only a salted hash of each secret.

A key reads `cdgpt_<key_id>_<secret>`: the id is public and finds the record, the secret is 32 random
bytes. The record keeps HMAC-SHA256(salt, key_id:secret) with a random salt of its own. A fast hash is
enough for a secret of 256 random bits (no dictionary or brute force can reach it, unlike a password),
and it keeps an uncached check well under a millisecond; the salt makes every record's hash unique and
the key id inside it ties a hash to its record. Records are cached per container for
CDGPT_KEY_CACHE_SECONDS (60): a revoked key keeps working at most that long where it was just used.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from cdgpt.errors import ConcurrentUpdate, InvalidRequest, KeyNotFound
from cdgpt.ingest.sources.scope import check_source_scopes
from cdgpt.models.store import ArtifactStore

Role = Literal["chat", "train", "admin"]
ROLES: tuple[Role, ...] = ("chat", "train", "admin")  # each role may do what the ones before it may
PREFIX = "keys/"
TOKEN = re.compile(r"^cdgpt_([0-9a-f]{12})_([0-9a-f]{64})$")
SCOPE = re.compile(r"^\*$|^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\*?$")  # *, a model name, or a prefix ending in *
MAX_SCOPES = 100
CACHE_ENTRIES = 1024


class KeyRecord(BaseModel):
    format: int = 1
    key_id: str
    name: str
    role: Role
    models: list[str]
    rate_per_minute: int | None = None  # None: CDGPT_RATE_LIMIT
    sources: list[str] | None = None  # where it may train from (ingest/sources/scope.py); None: anywhere
    created_at: str
    revoked_at: str | None = None
    salt: str
    hash: str

    def public(self) -> dict:
        """The record without its salt and hash, for listings."""
        return self.model_dump(exclude={"salt", "hash", "format"})


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a key (or the API secret), its role, the models it is scoped to, and the
    sources it may train from (None: any the service may read)."""

    key_id: str
    role: Role
    models: tuple[str, ...]
    rate_per_minute: int | None = None
    sources: tuple[str, ...] | None = None

    def covers(self, model_name: str) -> bool:
        return any(
            scope == model_name or (scope.endswith("*") and model_name.startswith(scope[:-1])) for scope in self.models
        )

    def may(self, role: Role, model_name: str | None = None) -> bool:
        """Whether this key has `role` (or a higher one) on the model (None: on every model, scope `*`)."""
        if ROLES.index(self.role) < ROLES.index(role):
            return False
        return "*" in self.models if model_name is None else self.covers(model_name)


def _digest(salt: bytes, key_id: str, secret: str) -> bytes:
    return hmac.new(salt, f"{key_id}:{secret}".encode(), hashlib.sha256).digest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_scopes(models: list[str]) -> list[str]:
    if not models or len(models) > MAX_SCOPES:
        raise InvalidRequest(f"a key needs 1 to {MAX_SCOPES} models: names, prefixes ending in *, or *")
    for scope in models:
        if not SCOPE.fullmatch(scope) or ".." in scope:
            raise InvalidRequest(f"not a model name, a prefix ending in * or *: {scope!r}")
    return list(dict.fromkeys(models))


def create_key(
    store: ArtifactStore,
    role: Role,
    models: list[str],
    name: str = "",
    rate_per_minute: int | None = None,
    sources: list[str] | None = None,
) -> tuple[KeyRecord, str]:
    """A new key's record and the key itself (shown once: only its hash is stored)."""
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
    if rate_per_minute is not None and rate_per_minute < 1:
        raise InvalidRequest("the rate must be at least 1 request a minute")
    scopes = check_scopes(models)
    key_id, secret, salt = secrets.token_hex(6), secrets.token_hex(32), secrets.token_bytes(16)
    record = KeyRecord(
        key_id=key_id,
        name=name[:200],
        role=role,
        models=scopes,
        rate_per_minute=rate_per_minute,
        sources=None if sources is None else check_source_scopes(sources),
        created_at=_now(),
        salt=salt.hex(),
        hash=_digest(salt, key_id, secret).hex(),
    )
    store.put_if(f"{PREFIX}{key_id}.json", record.model_dump_json(indent=1).encode(), None)
    return record, f"cdgpt_{key_id}_{secret}"


def _read(store: ArtifactStore, key_id: str) -> tuple[KeyRecord, str] | None:
    found = store.get(f"{PREFIX}{key_id}.json")
    return None if found is None else (KeyRecord.model_validate_json(found[0]), found[1])


def list_keys(store: ArtifactStore) -> list[KeyRecord]:
    records = (_read(store, key.removeprefix(PREFIX).removesuffix(".json")) for key in store.keys(PREFIX))
    return sorted((r[0] for r in records if r is not None), key=lambda r: (r.created_at, r.key_id))


def revoke_key(store: ArtifactStore, key_id: str) -> KeyRecord:
    """Mark the key revoked (its record stays, for the listing)."""
    for _ in range(5):
        found = _read(store, key_id) if re.fullmatch(r"[0-9a-f]{12}", key_id) else None
        if found is None:
            raise KeyNotFound(f"no API key {key_id!r}")
        record, etag = found
        if record.revoked_at:
            return record
        record.revoked_at = _now()
        try:
            store.put_if(f"{PREFIX}{key_id}.json", record.model_dump_json(indent=1).encode(), etag)
        except ConcurrentUpdate:
            continue
        _forget(store, key_id)
        return record
    raise ConcurrentUpdate(f"key {key_id} kept changing; retry")


_cache: dict[tuple[str, str], tuple[float, KeyRecord | None]] = {}  # (location, id) -> (read at, record)
_lock = threading.Lock()


def _forget(store: ArtifactStore, key_id: str) -> None:
    with _lock:
        _cache.pop((store.location, key_id), None)


def forget_all() -> None:
    with _lock:
        _cache.clear()


def _cached(store: ArtifactStore, key_id: str, max_age_s: float) -> KeyRecord | None:
    now = time.monotonic()
    with _lock:
        hit = _cache.get((store.location, key_id))
    if hit is not None and now - hit[0] < max_age_s:
        return hit[1]
    found = _read(store, key_id)
    record = found[0] if found else None
    with _lock:
        if len(_cache) >= CACHE_ENTRIES:
            _cache.clear()
        _cache[store.location, key_id] = (now, record)
    return record


def looks_like_key(token: str) -> bool:
    return token.startswith("cdgpt_")


def authenticate(store: ArtifactStore, token: str, max_age_s: float) -> Principal | None:
    """The principal of a valid, unrevoked key; None otherwise (the hashes are compared in constant time)."""
    parsed = TOKEN.fullmatch(token)
    if parsed is None:
        return None
    key_id, secret = parsed.groups()
    record = _cached(store, key_id, max_age_s)
    if record is None:
        return None
    presented = _digest(bytes.fromhex(record.salt), key_id, secret)
    if not hmac.compare_digest(presented, bytes.fromhex(record.hash)) or record.revoked_at:
        return None
    sources = None if record.sources is None else tuple(record.sources)
    return Principal(key_id, record.role, tuple(record.models), record.rate_per_minute, sources)
