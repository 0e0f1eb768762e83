"""The `store` fixture (a local folder, or a moto S3 bucket) and `sources` (two small documents).

from tests.support.stores import sources, store  # noqa: F401
"""

from __future__ import annotations

import threading
import uuid

import pytest
from moto import mock_aws

from cdgpt.clients import reset_clients, s3_client
from cdgpt.models.store import LocalStore, S3Store, default_store
from cdgpt.settings import get_settings


def atomic_moto_puts(monkeypatch) -> None:
    """S3 checks a conditional PUT's precondition and writes in one step; moto checks, then writes, so two
    racing threads could both pass. And S3 replaces an object whole under a GET; moto closes the old
    object's buffer while a racing GET may still read it ("I/O operation on closed file"). One lock
    around moto's PUT and GET handlers makes both atomic, as S3's are."""
    from moto.s3.responses import S3Response

    lock = threading.RLock()

    def atomic(handler):
        def locked(self):
            with lock:
                return handler(self)

        return locked

    monkeypatch.setattr(S3Response, "put_object", atomic(S3Response.put_object))
    monkeypatch.setattr(S3Response, "get_object", atomic(S3Response.get_object))


@pytest.fixture
def sources(tmp_path, monkeypatch):
    root = tmp_path / "src"
    (root / "docs").mkdir(parents=True)
    (root / "docs/leave.md").write_text(
        "# Leave\n\nFull-time employees receive 25 days of paid annual leave per year.\n\n"
        "## Carry-over\n\nUp to five unused days may be carried over until the end of March.\n",
        "utf-8",
    )
    (root / "docs/expenses.txt").write_text(
        "Expenses\n\nHotels in London are reimbursed up to 180 pounds per night. Receipts are required.\n", "utf-8"
    )
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(root))
    reset_clients()
    return ["docs"]


@pytest.fixture(params=["local", "s3"])
def store(request, monkeypatch):
    """The store `default_store` picks: a local folder, or (ARTIFACTS_BUCKET set) a moto S3 bucket."""
    if request.param == "local":
        store = default_store(get_settings())
        assert isinstance(store, LocalStore)
        yield store
        return
    with mock_aws():
        bucket = f"artifacts-{uuid.uuid4().hex[:12]}"  # unique: the chat cache is keyed by location
        monkeypatch.setenv("ARTIFACTS_BUCKET", bucket)
        atomic_moto_puts(monkeypatch)
        reset_clients()
        s3_client().create_bucket(Bucket=bucket)
        store = default_store(get_settings())
        assert isinstance(store, S3Store)
        yield store
        reset_clients()
