"""S3 sources: one object (`s3://bucket/key`) or every object under a prefix (`s3://bucket/prefix/`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial

from botocore.exceptions import BotoCoreError, ClientError

from cdgpt.clients import s3_client
from cdgpt.errors import PayloadTooLarge, SourceFailed, SourceRefused, SourceUnavailable
from cdgpt.ingest.sources import NotModified, RawDocument, SourceDocument, is_hidden
from cdgpt.ingest.sources.entries import Seen
from cdgpt.settings import Settings

GONE = frozenset(["NoSuchKey", "NoSuchBucket", "404"])  # S3's codes for what is not there; the rest may pass
SOURCES_PREFIX = "sources/"  # the artifacts bucket's documents to train on (template.yaml, TrainingPolicy)


BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3's bucket naming rules, as far as a name alone tells


def _failure(code: str) -> type[SourceFailed]:
    """What S3 said, as a failure: a document not there is gone; any other refusal may pass."""
    return SourceFailed if code in GONE else SourceUnavailable


def parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise SourceRefused("s3 source needs a bucket: s3://bucket/key or s3://bucket/prefix/")
    if not BUCKET.fullmatch(bucket):
        raise SourceRefused(f"{bucket[:100]!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')")
    if ".." in key.split("/"):
        raise SourceRefused(f"{uri[:200]}: an S3 key has no '..' segments")
    return bucket, key


def _get(bucket: str, key: str, limit: int, seen: Seen | None = None, listed_etag: str | None = None) -> RawDocument:
    """The object; NotModified when its ETag (from the listing, or a conditional GET) is the one last seen."""
    uri = f"s3://{bucket}/{key}"
    known = seen.etag if seen else None
    if known and listed_etag == known:
        raise NotModified(uri)
    try:
        client = s3_client()
        obj = (
            client.get_object(Bucket=bucket, Key=key, IfNoneMatch=known)
            if known
            else client.get_object(Bucket=bucket, Key=key)
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        if known and code in ("304", "NotModified"):
            raise NotModified(uri) from exc
        raise _failure(code)(f"cannot read {uri}: {code}") from exc
    except BotoCoreError as exc:
        raise SourceUnavailable(f"cannot read {uri}: {type(exc).__name__}") from exc
    with obj["Body"] as body:
        if obj.get("ContentLength", 0) > limit:
            raise PayloadTooLarge(f"{uri} is larger than the {limit}-byte limit")
        content = body.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"{uri} is larger than the {limit}-byte limit")
    return RawDocument(source=uri, content=content, content_type=obj.get("ContentType"), name=key, etag=obj.get("ETag"))


def _list(bucket: str, prefix: str, cap: int) -> dict[str, str | None]:
    """Key -> ETag of every object under the prefix."""
    keys: dict[str, str | None] = {}
    try:
        for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/") and not is_hidden(item["Key"]):
                    keys[item["Key"]] = item.get("ETag")
                if len(keys) > cap:
                    raise PayloadTooLarge(f"more than {cap} objects under s3://{bucket}/{prefix}")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise _failure(code)(f"cannot list s3://{bucket}/{prefix}: {code}") from exc
    except BotoCoreError as exc:
        raise SourceUnavailable(f"cannot list s3://{bucket}/{prefix}: {type(exc).__name__}") from exc
    if not keys:
        raise SourceFailed(f"no objects under s3://{bucket}/{prefix}")
    return keys


def expand_s3(uri: str, settings: Settings, seen: Mapping[str, Seen] | None = None) -> list[SourceDocument]:
    bucket, key = parse_s3_uri(uri)
    if bucket == settings.artifacts_bucket and not key.startswith(SOURCES_PREFIX):
        # training may read the bucket's models and jobs (other models' text): only its sources/ are documents
        raise SourceRefused(f"{uri}: of the artifacts bucket only s3://{bucket}/{SOURCES_PREFIX}... holds sources")
    if key and not key.endswith("/") and is_hidden(key):
        raise SourceRefused(f"{uri} is a hidden object (a dot-file or in a dot-folder)")
    keys = {key: None} if key and not key.endswith("/") else _list(bucket, key, settings.max_prefix_objects)
    seen = seen or {}
    return [
        SourceDocument(source, partial(_get, bucket, k, settings.max_source_bytes, seen.get(source), etag))
        for k, etag in keys.items()
        if (source := f"s3://{bucket}/{k}")
    ]
