"""Artifact stores: S3 (when ARTIFACTS_BUCKET is set) or a local folder, with compare-and-swap writes."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import mmap
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cdgpt.errors import ConcurrentUpdate, UpstreamError
from cdgpt.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef


Blob = bytes | mmap.mmap  # an artifact's content: in memory, or a mapped file (large artifacts)
LOCKS = ".locks/"  # the local store's lock files for compare-and-swap writes


class ArtifactStore(Protocol):
    location: str  # where the artifacts live, for messages and cache keys

    def get(self, key: str) -> tuple[bytes, str] | None:
        """(content, etag), or None when the key does not exist."""
        ...

    def changed(self, key: str, etag: str) -> bool:
        """Whether the key no longer has this etag (a cheap check)."""
        ...

    def put(self, key: str, data: Blob) -> None: ...

    def file(self, key: str, download_to: Path) -> Path | None:
        """A local file holding the key's content, for memory-mapping: the local store's own file, or
        (S3) a download to `download_to`, reused when it is already there. None when the key does not exist."""
        ...

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        """Write only if the key still has etag (None: only if it does not exist), else ConcurrentUpdate;
        returns the new etag."""
        ...

    def update(self, key: str, change: Callable[[bytes | None], bytes | None]) -> None:
        """Replace the key's content (None: it does not exist) by `change` of it, unless that is None;
        ConcurrentUpdate when another writer came in between (never locally: the key's lock is held)."""
        ...

    def keys(self, prefix: str) -> list[str]: ...

    def sizes(self, prefix: str) -> dict[str, int]:
        """Every key that starts with prefix, and its size in bytes: one listing, as `keys`."""
        ...

    def delete(self, keys: list[str]) -> None: ...

    def tidy(self, prefix: str) -> None:
        """Remove what a listing cannot show under prefix (empty local folders); S3 has nothing to tidy."""
        ...


def leaves_folder(key: str) -> bool:
    """Whether a key (a path relative to a folder) would lead out of it: absolute, or through `..`."""
    return key.startswith("/") or ".." in key.split("/")


class LocalStore:
    """Files under a root folder; writes are atomic renames, compare-and-swap under a file lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root.resolve())

    def _path(self, key: str) -> Path:
        """The key's file, which never leaves the root."""
        if leaves_folder(key):
            raise ValueError(f"a store key must stay inside the store: {key[:200]!r}")
        return self.root / key

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            with open(self._path(key), "rb") as handle:
                identity = _identity(os.fstat(handle.fileno()))
                data = handle.read()
        except FileNotFoundError:
            return None
        etag = hashlib.sha256(data).hexdigest()
        _last_read[(self.location, key)] = (identity, etag)
        return data, etag

    def file(self, key: str, download_to: Path) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def changed(self, key: str, etag: str) -> bool:
        """Files are only ever replaced (a rename: a new inode), so one that kept its inode, size and
        modification time still has the content last read from it: no need to read and hash it again."""
        try:
            identity = _identity(self._path(key).stat())
        except FileNotFoundError:
            return True
        if _last_read.get((self.location, key)) == (identity, etag):
            return False
        current = self.get(key)
        return current is None or current[1] != etag

    def put(self, key: str, data: Blob) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """The key's write lock (`put_if`, `update`), across threads and processes."""
        lock = self.root / LOCKS / hashlib.sha256(key.encode()).hexdigest()[:32]  # outside every key's folder
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        with self._locked(key):
            current = self.get(key)
            if (current[1] if current else None) != etag:
                raise ConcurrentUpdate(f"{key} was changed by another writer meanwhile; retry")
            self.put(key, data)
        return hashlib.sha256(data).hexdigest()

    def update(self, key: str, change: Callable[[bytes | None], bytes | None]) -> None:
        """Read, change and write under the key's lock: writers wait their turn instead of retrying."""
        with self._locked(key):
            current = self.get(key)
            data = change(current[0] if current else None)
            if data is not None:
                self.put(key, data)

    def keys(self, prefix: str) -> list[str]:
        """Every key that starts with prefix (a folder, or any beginning of a key, as in S3)."""
        return sorted(key for key, _ in self._files(prefix))

    def sizes(self, prefix: str) -> dict[str, int]:
        return dict(self._files(prefix))

    def _files(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Each file's key and size, from one stat (a file deleted since it was listed is left out)."""
        base = self._path(prefix.rpartition("/")[0])
        if not base.is_dir():
            return
        for path in base.rglob("*"):
            key = str(path.relative_to(self.root))
            if not key.startswith(prefix) or key.startswith(LOCKS):
                continue
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield key, info.st_size

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty, or already gone
                path.parent.rmdir()  # an emptied version folder; each training would leave one behind

    def tidy(self, prefix: str) -> None:
        base = self._path(prefix)
        if base.is_dir():  # deepest first, so a folder of empty folders goes too
            for folder in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()


# (store location, key) -> (file identity, etag) when last read, by any LocalStore of this process
_last_read: dict[tuple[str, str], tuple[tuple[int, int, int], str]] = {}


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_ino, info.st_size, info.st_mtime_ns


STALE_PARTIAL_S = 20 * 60  # longer than any function runs: a partial download this old was left by a killed one


def _remove_stale_partials(download_to: Path) -> None:
    """Partial downloads of this file that a process killed mid-download left behind (/tmp outlives it)."""
    now = time.time()
    for left in download_to.parent.glob(f".{glob.escape(download_to.name)}.*"):
        with contextlib.suppress(OSError):  # another process renamed or removed it meanwhile
            if now - left.stat().st_mtime > STALE_PARTIAL_S:
                left.unlink()


class S3Store:
    """An S3 bucket; the manifest switch uses conditional writes (If-Match / If-None-Match)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.location = f"s3://{bucket}"
        check_conditional_writes(self._client())

    @staticmethod
    def _client() -> S3Client:
        from cdgpt.clients import s3_client

        return s3_client()

    def _read(self, operation: str, key: str) -> dict | None:
        """get_object or head_object; None when the key does not exist."""
        from botocore.exceptions import ClientError

        try:
            with _s3_errors("read", passing=ClientError):
                return getattr(self._client(), operation)(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("NoSuchKey", "404"):
                return None
            raise UpstreamError(f"S3 read failed: {code}") from exc

    def get(self, key: str) -> tuple[bytes, str] | None:
        obj = self._read("get_object", key)
        if obj is None:
            return None
        with obj["Body"] as body:
            return body.read(), obj["ETag"]

    def file(self, key: str, download_to: Path) -> Path | None:
        """Downloaded in parallel parts to a temporary name, renamed when complete."""
        from botocore.exceptions import ClientError

        if download_to.is_file():
            return download_to
        download_to.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(download_to)
        partial = download_to.with_name(f".{download_to.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            with _s3_errors("read", passing=ClientError):
                self._client().download_file(self.bucket, key, str(partial))
        except ClientError as exc:
            partial.unlink(missing_ok=True)
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise UpstreamError(f"S3 read failed: {exc.response['Error']['Code']}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(download_to)
        return download_to

    def changed(self, key: str, etag: str) -> bool:
        head = self._read("head_object", key)
        return head is None or head["ETag"] != etag

    def put(self, key: str, data: Blob) -> None:
        with _s3_errors("write"):
            body: Any = data  # a mapped file is read like an open file (botocore seeks back on a retry)
            self._client().put_object(Bucket=self.bucket, Key=key, Body=body)

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        from botocore.exceptions import ClientError

        try:
            with _s3_errors("write", passing=ClientError):
                if etag:
                    return self._client().put_object(Bucket=self.bucket, Key=key, Body=data, IfMatch=etag)["ETag"]
                return self._client().put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")["ETag"]
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            # 412: the etag changed; 409: a concurrent conditional write; 404 with IfMatch: the key went away
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409") or (
                etag and code in ("NoSuchKey", "404")
            ):
                raise ConcurrentUpdate(f"{key} was changed by another writer meanwhile; retry") from exc
            raise UpstreamError(f"S3 write failed: {code}") from exc

    def update(self, key: str, change: Callable[[bytes | None], bytes | None]) -> None:
        current = self.get(key)
        data = change(current[0] if current else None)
        if data is not None:
            self.put_if(key, data, current[1] if current else None)

    def keys(self, prefix: str) -> list[str]:
        return list(self.sizes(prefix))

    def sizes(self, prefix: str) -> dict[str, int]:
        with _s3_errors("list"):
            pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}

    def tidy(self, prefix: str) -> None:
        pass  # S3 has no folders

    def delete(self, keys: list[str]) -> None:
        with _s3_errors("delete"):
            for start in range(0, len(keys), 1000):
                batch: list[ObjectIdentifierTypeDef] = [{"Key": k} for k in keys[start : start + 1000]]
                answer = self._client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                if refused := answer.get("Errors"):  # a 200 that lists what it did not delete
                    raise UpstreamError(f"S3 delete failed: {refused[0].get('Code')} ({len(refused)} objects kept)")


@lru_cache(maxsize=1)
def check_conditional_writes(client: S3Client) -> None:
    """Publishing relies on S3 conditional writes; a Lambda runtime's older botocore would drop them silently."""
    import botocore

    shape = client.meta.service_model.operation_model("PutObject").input_shape
    if shape is None or not {"IfMatch", "IfNoneMatch"} <= set(shape.members):
        raise UpstreamError(
            f"botocore {botocore.__version__} cannot make S3 conditional writes (IfMatch/IfNoneMatch); "
            "publishing a model needs botocore 1.35.69 or newer (November 2024)"
        )


@contextmanager
def _s3_errors(action: str, passing: type[Exception] | None = None) -> Iterator[None]:
    """S3's errors as UpstreamError (`passing` lets the caller look at one kind itself)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        if passing is not None and isinstance(exc, passing):
            raise
        raise UpstreamError(f"S3 {action} failed: {exc.response['Error']['Code']}") from exc
    except BotoCoreError as exc:
        raise UpstreamError(f"S3 {action} failed: {type(exc).__name__}") from exc


def default_store(settings: Settings) -> ArtifactStore:
    if settings.artifacts_bucket:
        return S3Store(settings.artifacts_bucket)
    return LocalStore(settings.data_dir)
