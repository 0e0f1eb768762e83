"""The local counter table: connections opened at once on a new folder all work (the first ones
switch the file to its write-ahead log), and concurrent transactions lose no change."""

from __future__ import annotations

import threading

from cdgpt.models import counters
from tests.support import in_threads


def test_connections_opened_at_once_on_a_new_folder_lose_no_change(tmp_path):
    for n in range(20):  # a race at the first connections: repeated on fresh folders
        root = tmp_path / f"data{n}"
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def add(root=root, errors=errors, start=start) -> None:
            start.wait()
            try:
                with counters.transaction(root) as db:
                    db.execute(
                        "INSERT INTO usage VALUES ('m', 'd', 'chats', 1)"
                        " ON CONFLICT DO UPDATE SET amount = amount + excluded.amount"
                    )
            except BaseException as error:
                errors.append(error)

        in_threads(8, lambda _: add())
        assert errors == []
        (total,) = counters.connect(root).execute("SELECT amount FROM usage").fetchone()
        assert total == 8
        assert counters.connect(root).execute("PRAGMA journal_mode").fetchone() == ("wal",)
