"""S3 sources (moto, in process) and local paths confined to CDGPT_SOURCE_ROOT."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

import cdgpt.ingest.sources.local as local_sources
import cdgpt.ingest.sources.s3 as s3_mod
from cdgpt.clients import reset_clients
from cdgpt.errors import PayloadTooLarge, SourceFailed, SourceRefused, SourceUnavailable
from cdgpt.ingest.sources import expand_entry, load_entry
from cdgpt.settings import get_settings
from tests.support import settings_with

BUCKET = "docs-bucket"


@pytest.fixture
def bucket():
    """A moto S3 bucket; returns a put(key, body, content_type=None) helper."""
    with mock_aws():
        reset_clients()  # the cached client must be built inside the mock
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)

        def put(key: str, body: bytes | str, content_type: str | None = None) -> str:
            extra = {"ContentType": content_type} if content_type else {}
            s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body, **extra)
            return f"s3://{BUCKET}/{key}"

        yield put
    reset_clients()


# --- S3 ------------------------------------------------------------------------------------------


def test_given_one_object_when_loaded_then_one_document_with_its_uri_type_and_name(bucket):
    uri = bucket("guides/setup.md", "# Setup\n\nInstall it.", "text/markdown")
    [doc] = load_entry(uri, get_settings())
    assert doc.source == "s3://docs-bucket/guides/setup.md"
    assert doc.content == b"# Setup\n\nInstall it."
    assert doc.content_type == "text/markdown"
    assert doc.name == "guides/setup.md"


def test_given_a_prefix_with_several_objects_when_loaded_then_each_document_has_its_own_uri(bucket):
    bucket("team/a.txt", "alpha")
    bucket("team/b.html", "<p>beta</p>", "text/html")
    bucket("team/sub/c.md", "# gamma")
    bucket("team/", b"")  # a "folder" marker object is not a document
    bucket("other/d.txt", "not under the prefix")
    docs = load_entry(f"s3://{BUCKET}/team/", get_settings())
    by_source = {d.source: d for d in docs}
    assert sorted(by_source) == [
        "s3://docs-bucket/team/a.txt",
        "s3://docs-bucket/team/b.html",
        "s3://docs-bucket/team/sub/c.md",
    ]
    assert by_source["s3://docs-bucket/team/a.txt"].content == b"alpha"
    assert by_source["s3://docs-bucket/team/b.html"].content_type == "text/html"
    assert by_source["s3://docs-bucket/team/sub/c.md"].name == "team/sub/c.md"


def test_given_a_bare_bucket_when_loaded_then_every_object_is_a_document(bucket):
    bucket("x.txt", "x")
    bucket("y/z.txt", "z")
    docs = load_entry(f"s3://{BUCKET}", get_settings())
    assert sorted(d.source for d in docs) == ["s3://docs-bucket/x.txt", "s3://docs-bucket/y/z.txt"]


def test_given_a_missing_object_when_loaded_then_source_failed_with_the_s3_code(bucket):
    with pytest.raises(SourceFailed, match="NoSuchKey") as failed:
        load_entry(f"s3://{BUCKET}/missing.txt", get_settings())
    assert not isinstance(failed.value, SourceUnavailable)  # gone, not down: a retraining drops it


def test_given_a_missing_bucket_when_loaded_then_source_failed(bucket):
    with pytest.raises(SourceFailed, match="NoSuchBucket"):
        load_entry("s3://no-such-bucket/file.txt", get_settings())
    with pytest.raises(SourceFailed, match="NoSuchBucket"):
        load_entry("s3://no-such-bucket/prefix/", get_settings())


def test_given_an_empty_prefix_when_loaded_then_source_failed(bucket):
    bucket("elsewhere/a.txt", "a")
    with pytest.raises(SourceFailed, match="no objects"):
        load_entry(f"s3://{BUCKET}/empty/", get_settings())


def test_given_an_object_over_the_size_cap_when_loaded_then_payload_too_large(bucket, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_MAX_SOURCE_BYTES="1000")
    bucket("big.txt", b"b" * 1001)
    bucket("ok.txt", b"o" * 1000)
    with pytest.raises(PayloadTooLarge):
        load_entry(f"s3://{BUCKET}/big.txt", settings)
    [doc] = load_entry(f"s3://{BUCKET}/ok.txt", settings)
    assert len(doc.content) == 1000


def test_given_a_prefix_holding_one_oversized_object_when_loaded_then_payload_too_large(bucket, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_MAX_SOURCE_BYTES="1000")
    bucket("mix/small.txt", "small")
    bucket("mix/large.txt", b"L" * 5000)
    with pytest.raises(PayloadTooLarge):
        load_entry(f"s3://{BUCKET}/mix/", settings)


def test_given_more_objects_than_the_prefix_cap_when_loaded_then_payload_too_large(bucket, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_MAX_PREFIX_OBJECTS="3")
    for i in range(4):
        bucket(f"many/{i}.txt", f"doc {i}")
    with pytest.raises(PayloadTooLarge, match="more than 3"):
        load_entry(f"s3://{BUCKET}/many/", settings)


def test_given_exactly_the_prefix_cap_when_loaded_then_all_objects_are_returned(bucket, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_MAX_PREFIX_OBJECTS="3")
    for i in range(3):
        bucket(f"three/{i}.txt", f"doc {i}")
    assert len(load_entry(f"s3://{BUCKET}/three/", settings)) == 3


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://bad bucket/x.md", "'bad bucket' is not an S3 bucket name"),
        ("s3://中文/x.md", "'中文' is not an S3 bucket name"),
        ("s3://Docs/x.md", "'Docs' is not an S3 bucket name"),
        ("s3://docs/../../x.md", "s3://docs/../../x.md: an S3 key has no '..' segments"),
    ],
)
def test_given_a_malformed_s3_uri_when_loaded_then_refused_saying_why(uri, message):
    with pytest.raises(SourceRefused) as caught:
        load_entry(uri, get_settings())
    assert str(caught.value).startswith(message)


def test_given_no_bucket_name_when_loaded_then_refused():
    with pytest.raises(SourceRefused, match="bucket"):
        load_entry("s3:///key.txt", get_settings())


def test_given_s3_is_unreachable_when_listing_a_prefix_then_source_failed(monkeypatch):
    # A network error (not an S3 error response) must still come out as a domain error.
    class Unreachable:
        def get_paginator(self, name):
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")

        def get_object(self, **kwargs):
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")

    monkeypatch.setattr(s3_mod, "s3_client", lambda: Unreachable())
    with pytest.raises(SourceUnavailable, match="EndpointConnectionError"):  # a retraining keeps what it had
        load_entry("s3://bucket/prefix/", get_settings())
    with pytest.raises(SourceUnavailable, match="EndpointConnectionError"):
        load_entry("s3://bucket/key.txt", get_settings())


# --- local paths ---------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A source root with a file, a nested folder and a secret file just outside it."""
    base = tmp_path / "root"
    (base / "handbook" / "hr").mkdir(parents=True)
    (base / "readme.md").write_text("# Readme\n\nWelcome.")
    (base / "handbook" / "intro.txt").write_text("Intro text.")
    (base / "handbook" / "hr" / "leave.md").write_text("# Leave\n\nTwenty days.")
    (base / "handbook" / ".hidden").write_text("dotfile")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    settings_with(monkeypatch, CDGPT_SOURCE_ROOT=str(base))
    return base


def test_given_no_source_root_when_a_local_path_is_loaded_then_refused(tmp_path):
    (tmp_path / "f.txt").write_text("text")
    with pytest.raises(SourceRefused, match="CDGPT_SOURCE_ROOT"):
        load_entry(str(tmp_path / "f.txt"), get_settings())
    with pytest.raises(SourceRefused):
        load_entry("f.txt", get_settings())


def test_given_a_file_inside_the_root_when_loaded_then_one_document(root):
    [doc] = load_entry("readme.md", get_settings())
    assert doc.source == "readme.md"
    assert doc.content == b"# Readme\n\nWelcome."
    assert doc.name == "readme.md"
    assert doc.content_type is None


def test_given_an_absolute_path_inside_the_root_when_loaded_then_accepted(root):
    [doc] = load_entry(str(root / "handbook" / "intro.txt"), get_settings())
    assert doc.content == b"Intro text."


def test_given_a_folder_inside_the_root_when_loaded_then_every_visible_file_recursively(root):
    docs = load_entry("handbook", get_settings())
    assert [d.source for d in docs] == ["handbook/hr/leave.md", "handbook/intro.txt"]
    assert docs[0].content == b"# Leave\n\nTwenty days."
    assert all(d.name != ".hidden" for d in docs)


def test_given_the_root_itself_when_loaded_then_all_files_under_it(root):
    docs = load_entry(".", get_settings())
    assert sorted(d.source for d in docs) == ["handbook/hr/leave.md", "handbook/intro.txt", "readme.md"]


def test_the_models_own_folders_inside_the_root_are_no_sources(root, monkeypatch):
    """Other models' text, jobs and keys live there: a train key for one model must not read them."""
    (root / "data" / "models" / "finance").mkdir(parents=True)
    (root / "data" / "models" / "finance" / "docstore.jsonl").write_text('{"text": "The CEO salary is ..."}')
    (root / "cache" / "finance").mkdir(parents=True)
    (root / "cache" / "finance" / "docstore.jsonl").write_text('{"text": "The CEO salary is ..."}')
    settings_with(monkeypatch, CDGPT_DATA_DIR=str(root / "data"), CDGPT_CACHE_DIR=str(root / "cache"))
    assert sorted(d.source for d in load_entry(".", get_settings())) == [
        "handbook/hr/leave.md",
        "handbook/intro.txt",
        "readme.md",
    ]
    for entry in ("data", "data/models/finance/docstore.jsonl", "handbook/../cache/finance"):
        with pytest.raises(SourceRefused, match="is in the models' own folder"):
            load_entry(entry, get_settings())


def test_given_a_path_that_stays_inside_after_dotdot_when_loaded_then_accepted(root):
    [doc] = load_entry("handbook/../readme.md", get_settings())
    assert doc.content.startswith(b"# Readme")


@pytest.mark.parametrize(
    "entry", ["../secret.txt", "handbook/../../secret.txt", "..", "handbook/hr/../../../secret.txt"]
)
def test_given_a_dotdot_escape_when_loaded_then_refused(root, entry):
    with pytest.raises(SourceRefused, match="outside"):
        load_entry(entry, get_settings())


def test_given_an_absolute_path_outside_the_root_when_loaded_then_refused(root):
    with pytest.raises(SourceRefused, match="outside"):
        load_entry(str(root.parent / "secret.txt"), get_settings())
    with pytest.raises(SourceRefused, match="outside"):
        load_entry("/etc/passwd", get_settings())


def test_given_proc_self_environ_when_loaded_then_refused(root):
    with pytest.raises(SourceRefused):
        load_entry("/proc/self/environ", get_settings())


def test_given_a_file_uri_when_loaded_then_refused_even_inside_the_root(root):
    with pytest.raises(SourceRefused, match="scheme"):
        load_entry(f"file://{root / 'readme.md'}", get_settings())


def test_given_a_symlink_file_pointing_outside_when_loaded_then_refused(root):
    (root / "link.txt").symlink_to(root.parent / "secret.txt")
    with pytest.raises(SourceRefused, match="outside"):
        load_entry("link.txt", get_settings())


def test_given_a_symlink_to_proc_when_loaded_then_refused(root):
    (root / "env").symlink_to("/proc/self/environ")
    with pytest.raises(SourceRefused):
        load_entry("env", get_settings())


def test_given_a_symlink_inside_a_folder_pointing_outside_when_the_folder_is_loaded_then_it_is_refused_by_name(root):
    (root / "handbook" / "leak.txt").symlink_to(root.parent / "secret.txt")
    documents = expand_entry("handbook", get_settings())
    assert [d.source for d in documents] == ["handbook/hr/leave.md", "handbook/intro.txt", "handbook/leak.txt"]
    with pytest.raises(SourceFailed, match=r"^a link to outside the source root$"):  # listed with its reason
        documents[2].load()
    assert all(b"TOP SECRET" not in d.load().content for d in documents[:2])


def test_given_an_entry_that_is_neither_file_nor_folder_when_loaded_then_it_says_so(root):
    os.mkfifo(root / "pipe")
    with pytest.raises(SourceFailed, match=r"^not a file or folder: pipe$"):
        load_entry("pipe", get_settings())


def test_given_a_symlinked_folder_pointing_outside_when_loaded_then_refused_and_skipped_in_parent(root):
    outside = root.parent / "outside_dir"
    outside.mkdir()
    (outside / "private.txt").write_text("PRIVATE")
    (root / "handbook" / "ext").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SourceRefused):
        load_entry("handbook/ext", get_settings())
    docs = load_entry("handbook", get_settings())
    assert all(b"PRIVATE" not in d.content for d in docs)


def test_given_a_symlink_inside_the_root_pointing_inside_when_loaded_then_followed(root):
    (root / "alias.md").symlink_to(root / "readme.md")
    [doc] = load_entry("alias.md", get_settings())
    assert doc.content.startswith(b"# Readme")


def test_given_a_missing_file_when_loaded_then_source_failed(root):
    with pytest.raises(SourceFailed, match="no such file"):
        load_entry("handbook/absent.txt", get_settings())


def test_given_a_folder_with_only_hidden_files_when_loaded_then_source_failed(root):
    (root / "empty").mkdir()
    (root / "empty" / ".keep").write_text("")
    with pytest.raises(SourceFailed, match="no files"):
        load_entry("empty", get_settings())


def test_given_a_local_file_over_the_size_cap_when_loaded_then_payload_too_large(root, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_SOURCE_ROOT=str(root), CDGPT_MAX_SOURCE_BYTES="10")
    (root / "big.txt").write_bytes(b"x" * 11)
    (root / "small.txt").write_bytes(b"x" * 10)
    with pytest.raises(PayloadTooLarge):
        load_entry("big.txt", settings)
    assert load_entry("small.txt", settings)[0].content == b"x" * 10


def test_given_more_files_than_the_cap_in_a_folder_when_loaded_then_payload_too_large(root, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_SOURCE_ROOT=str(root), CDGPT_MAX_PREFIX_OBJECTS="2")
    (root / "many").mkdir()
    for i in range(3):
        (root / "many" / f"{i}.txt").write_text(str(i))
    with pytest.raises(PayloadTooLarge):
        load_entry("many", settings)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_given_an_unreadable_file_when_loaded_then_source_failed(root):
    locked = root / "locked.txt"
    locked.write_text("no")
    locked.chmod(0)
    try:
        with pytest.raises(SourceFailed, match="cannot read"):
            load_entry("locked.txt", get_settings())
    finally:
        locked.chmod(0o600)


def test_given_a_root_reached_through_a_symlink_when_loading_inside_then_accepted(tmp_path, monkeypatch):
    real = tmp_path / "real_root"
    real.mkdir()
    (real / "a.txt").write_text("via link")
    link = tmp_path / "root_link"
    link.symlink_to(real, target_is_directory=True)
    settings = settings_with(monkeypatch, CDGPT_SOURCE_ROOT=str(link))
    assert load_entry("a.txt", settings)[0].content == b"via link"
    assert [d.source for d in load_entry(".", settings)] == ["a.txt"]
    assert isinstance(settings.source_root, Path)


def test_given_a_read_error_on_a_local_file_when_loaded_then_source_failed(root, monkeypatch):
    # Works as root too: the OS error is simulated at the opening.
    def denied(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(local_sources, "_open_beneath", denied)
    with pytest.raises(SourceFailed, match="Permission denied"):
        load_entry("readme.md", get_settings())


def test_given_a_folder_swapped_for_a_symlink_out_of_the_root_after_listing_when_loaded_then_refused(root):
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "a.txt").write_text("OUTSIDE-SECRET")
    (root / "docs").mkdir()
    (root / "docs" / "a.txt").write_text("inside")
    [listed] = expand_entry("docs", get_settings())
    (root / "docs" / "a.txt").unlink()
    (root / "docs").rmdir()
    (root / "docs").symlink_to(outside)  # swapped after the folder was listed
    with pytest.raises(SourceFailed):
        listed.load()


def test_given_a_file_swapped_for_a_pipe_after_listing_when_loaded_then_refused_without_blocking(root):
    [listed] = expand_entry("readme.md", get_settings())
    (root / "readme.md").unlink()
    os.mkfifo(root / "readme.md")  # nothing ever writes to it: a read would wait for ever
    with pytest.raises(SourceFailed, match="not a regular file"):
        listed.load()


@pytest.mark.parametrize("entry", [".env", "handbook/.hidden", ".git/config", ".git"])
def test_given_a_hidden_file_or_folder_named_directly_when_loaded_then_refused(root, entry):
    (root / ".env").write_text("API_SECRET=hunter2")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]")
    with pytest.raises(SourceRefused, match="hidden file or folder"):
        load_entry(entry, get_settings())


def test_given_a_visible_symlink_to_a_hidden_file_when_the_folder_is_loaded_then_it_is_skipped(root):
    (root / ".env").write_text("API_SECRET=hunter2")
    (root / "handbook" / "notes.txt").symlink_to(root / ".env")
    docs = load_entry("handbook", get_settings())
    assert "handbook/notes.txt" not in {d.source for d in docs}
    assert all(b"hunter2" not in d.content for d in docs)
    with pytest.raises(SourceRefused, match="hidden"):
        load_entry("handbook/notes.txt", get_settings())


def test_given_hidden_objects_under_a_prefix_when_expanded_then_they_are_skipped(bucket):
    bucket("docs/a.md", b"# A\n\nalpha")
    bucket("docs/.DS_Store", b"\x00\x01")
    bucket("docs/.git/config", b"[core]")
    assert [d.source for d in expand_entry(f"s3://{BUCKET}/docs/", get_settings())] == [f"s3://{BUCKET}/docs/a.md"]


def test_given_one_oversized_object_under_a_prefix_when_expanded_then_only_it_fails(bucket, monkeypatch):
    bucket("docs/a.md", b"# A\n\nalpha")
    bucket("docs/big.md", b"x" * 500)
    documents = expand_entry(f"s3://{BUCKET}/docs/", settings_with(monkeypatch, CDGPT_MAX_SOURCE_BYTES="100"))
    loaded = {}
    for document in documents:
        try:
            loaded[document.source] = document.load().content
        except PayloadTooLarge:
            loaded[document.source] = None
    assert loaded == {f"s3://{BUCKET}/docs/a.md": b"# A\n\nalpha", f"s3://{BUCKET}/docs/big.md": None}


def test_given_a_hidden_object_named_directly_when_expanded_then_refused(bucket):
    bucket("sources/.env", b"API_SECRET=x")
    with pytest.raises(SourceRefused, match="hidden object"):
        expand_entry(f"s3://{BUCKET}/sources/.env", get_settings())
