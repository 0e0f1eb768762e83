"""The counter table of a local artifact folder: SQLite, `counters.sqlite3` in the folder, the local
counterpart of the stack's DynamoDB counter table (RateTable).

It holds the daily usage totals per model (`usage.py`) and the request window per key
(`keys/throttle.py`). Each change is one short transaction, exact across processes (`cdgpt serve`'s
workers); with a write-ahead log a change costs no file rename and no disk flush, and survives a
killed process (a power cut may lose the last ones).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

FILE = "counters.sqlite3"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS usage (model TEXT, day TEXT, counter TEXT, amount INTEGER NOT NULL,"
    " PRIMARY KEY (model, day, counter)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS windows (key_id TEXT PRIMARY KEY, started REAL NOT NULL, hits INTEGER NOT NULL)"
    " WITHOUT ROWID",
)
_opened = threading.local()  # a connection belongs to the thread (and the process) that opened it


def connect(root: Path) -> sqlite3.Connection:
    """This thread's connection to the folder's table (a forked process opens its own)."""
    import sqlite3  # here: a Lambda, which counts in DynamoDB, never imports it

    by_place: dict[tuple[str, int], sqlite3.Connection] = _opened.__dict__.setdefault("by_place", {})
    place = (str(root / FILE), os.getpid())
    db = by_place.get(place)
    if db is None:
        root.mkdir(parents=True, exist_ok=True)
        # switching a new file to WAL fails at once ("database is locked") while another connection
        # opens it, whatever the timeout: connections are set up one at a time, under a file lock
        with open(root / f"{FILE}.lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            db = sqlite3.connect(place[0], timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            for statement in SCHEMA:
                db.execute(statement)
        by_place[place] = db
    return db


@contextmanager
def transaction(root: Path) -> Iterator[sqlite3.Connection]:
    """One write transaction: other writers wait until it commits."""
    db = connect(root)
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
