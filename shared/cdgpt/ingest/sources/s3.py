"""S3 sources: one object (`s3://bucket/key`) or every object under a prefix (`s3://bucket/prefix/`)."""

from __future__ import annotations

from functools import partial

from botocore.exceptions import BotoCoreError, ClientError

from cdgpt.clients import s3_client
from cdgpt.errors import PayloadTooLarge, SourceFailed, SourceRefused
from cdgpt.ingest.sources import RawDocument, SourceDocument, is_hidden
from cdgpt.settings import Settings


def parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise SourceRefused("s3 source needs a bucket: s3://bucket/key or s3://bucket/prefix/")
    return bucket, key


def _get(bucket: str, key: str, limit: int) -> RawDocument:
    uri = f"s3://{bucket}/{key}"
    try:
        obj = s3_client().get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SourceFailed(f"cannot read {uri}: {code}") from exc
    except BotoCoreError as exc:
        raise SourceFailed(f"cannot read {uri}: {type(exc).__name__}") from exc
    with obj["Body"] as body:
        if obj.get("ContentLength", 0) > limit:
            raise PayloadTooLarge(f"{uri} is larger than the {limit}-byte limit")
        content = body.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"{uri} is larger than the {limit}-byte limit")
    return RawDocument(source=uri, content=content, content_type=obj.get("ContentType"), name=key)


def _list(bucket: str, prefix: str, cap: int) -> list[str]:
    keys: list[str] = []
    try:
        for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/") and not is_hidden(item["Key"]):
                    keys.append(item["Key"])
                if len(keys) > cap:
                    raise PayloadTooLarge(f"more than {cap} objects under s3://{bucket}/{prefix}")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SourceFailed(f"cannot list s3://{bucket}/{prefix}: {code}") from exc
    except BotoCoreError as exc:
        raise SourceFailed(f"cannot list s3://{bucket}/{prefix}: {type(exc).__name__}") from exc
    if not keys:
        raise SourceFailed(f"no objects under s3://{bucket}/{prefix}")
    return keys


def expand_s3(uri: str, settings: Settings) -> list[SourceDocument]:
    bucket, key = parse_s3_uri(uri)
    if key and not key.endswith("/") and is_hidden(key):
        raise SourceRefused(f"{uri} is a hidden object (a dot-file or in a dot-folder)")
    keys = [key] if key and not key.endswith("/") else _list(bucket, key, settings.max_prefix_objects)
    return [SourceDocument(f"s3://{bucket}/{k}", partial(_get, bucket, k, settings.max_source_bytes)) for k in keys]
