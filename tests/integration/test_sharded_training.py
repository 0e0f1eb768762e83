"""Sharded training run by the local runner (the steps in this process, as `cdgpt serve` and the CLI run
them), in a local folder and in S3 (moto): a merged model is the model one worker trains from the same
sources, byte for byte, and answers `cdgpt eval` alike; retraining reuses vectors; a failing shard fails
the job and leaves the previous version serving; every step can run again without harm."""

from __future__ import annotations

import json
from datetime import timedelta

import faiss
import numpy as np
import pytest

from cdgpt import operations
from cdgpt.answer.answering import chat
from cdgpt.errors import UpstreamError
from cdgpt.local.cli import main
from cdgpt.models.registry import read_manifest
from cdgpt.settings import get_settings
from cdgpt.training.jobs import Job, JobProgress, JobRequest, JobStore
from cdgpt.training.sharded import files, steps
from cdgpt.training.sharded.plan import plan
from cdgpt.training.worker import run_job
from tests.support import REPO, settings_with
from tests.support.fixtures_openai import openai_stub  # noqa: F401
from tests.support.serve import AUTH, serving
from tests.support.stores import store  # noqa: F401

HANDBOOK = "samples/handbook"
QUESTIONS = REPO / "samples/questions.jsonl"
PAGE = "<html><head><title>{title}</title></head><body><main><h1>{title}</h1><p>{text}</p>{links}</main></body></html>"


@pytest.fixture
def repo(monkeypatch):
    """Local paths under the repository (the sample handbook); the embedded default embedder."""
    return settings_with(monkeypatch, CDGPT_SOURCE_ROOT=str(REPO), CDGPT_ALLOW_PRIVATE_URLS="1")


def sharded(monkeypatch, above: int = 1, per_shard: int = 2, **env: str):
    """Trainings of more than `above` documents run sharded, `per_shard` documents a shard."""
    return settings_with(
        monkeypatch, CDGPT_SHARD_ABOVE_DOCUMENTS=str(above), CDGPT_SHARD_DOCUMENTS=str(per_shard), **env
    )


def run_training(store, model: str, file_list: list, kind: str = "train"):
    started = operations.start_job(JobRequest(kind=kind, model_name=model, file_list=file_list), store=store, run=False)
    return run_job(started.job.job_id, store=store)


def artifacts(store, model: str) -> dict[str, bytes]:
    manifest, _ = read_manifest(store, model)
    return {name: store.get(f"models/{model}/{key}")[0] for name, key in manifest.files.items()}


def evaluated(capsys, model: str) -> dict:
    assert main(["eval", "--model", model, "--json", str(QUESTIONS)]) == 0
    report = json.loads(capsys.readouterr().out)
    report.pop("model_name")
    return report


def site(web) -> list:
    """A file_list whose documents overlap: a page, a folder, a crawl that finds that page again, a file of
    the folder, a sitemap naming a crawled page, a missing file."""
    links = '<a href="a.html">a</a> <a href="b.html">b</a>'
    web.add("/site/", PAGE.format(title="Site", text="The site's front page lists the team rooms.", links=links))
    web.add("/site/a.html", PAGE.format(title="Room A", text="Room A seats twelve people.", links=""))
    web.add("/site/b.html", PAGE.format(title="Room B", text="Room B has a projector.", links=""))
    web.add("/other/c.html", PAGE.format(title="Parking", text="Visitor parking is on level two.", links=""))
    pages = "".join(f"<url><loc>{web.base}{path}</loc></url>" for path in ("/site/b.html", "/other/c.html"))
    sitemap = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{pages}</urlset>'
    web.add("/maps/sitemap.xml", sitemap, "application/xml")
    return [
        f"{web.base}/site/a.html",
        HANDBOOK,
        {"url": f"{web.base}/site/", "crawl": {"max_pages": 10, "max_depth": 2}},
        f"{HANDBOOK}/benefits.txt",
        f"{web.base}/maps/sitemap.xml",
        "samples/missing.md",
    ]


@pytest.mark.parametrize("exact_max_mb", ["32", "0"], ids=["exact", "hnsw"])
def test_a_merged_model_is_the_model_one_worker_trains(store, repo, web, monkeypatch, capsys, exact_max_mb):
    # Given a file_list whose entries overlap, trained by one worker
    settings_with(monkeypatch, CDGPT_EXACT_SEARCH_MAX_MB=exact_max_mb)
    file_list = site(web)
    one = run_training(store, "one", file_list)
    assert one.status == "succeeded" and not store.keys(f"jobs/{one.job_id}/shards/")
    # When the same sources are trained in shards of 4 documents (a crawl weighs its max_pages: a shard alone)
    sharded(monkeypatch, per_shard=4)
    job = run_training(store, "many", file_list)
    # Then the job succeeded through the shards, and left no shard file behind
    assert job.status == "succeeded", job.failure
    assert job.progress.stage == "succeeded" and job.progress.documents_done == job.progress.documents_total == 22
    assert job.progress.chunks_embedded == job.progress.chunks_total == job.result.chunks == one.result.chunks
    assert store.keys(f"jobs/{job.job_id}/shards/") == []
    # and its version holds the same chunks, BM25 and vectors, and the same record of every source
    mine, theirs = artifacts(store, "many"), artifacts(store, "one")
    for name in ("docstore", "docstore_index", "lexical"):
        assert mine[name] == theirs[name], name
    indexes = [faiss.deserialize_index(np.frombuffer(a["index"], dtype=np.uint8)) for a in (mine, theirs)]
    assert indexes[0].ntotal == indexes[1].ntotal == one.result.chunks
    assert [isinstance(index, faiss.IndexHNSWSQ) for index in indexes] == [exact_max_mb == "0"] * 2
    # the same vectors but for their last bits: the local embedder's matrix products round a text's vector
    # differently beside other texts (its micro-batch), and a shard's neighbours are not one worker's; under
    # HNSW the vectors are 16-bit floats, where such a bit can move a component by one rounding step
    a, b = (index.reconstruct_n(0, index.ntotal) for index in indexes)
    assert np.allclose(a, b, rtol=1e-3, atol=1e-6)
    many_manifest, one_manifest = read_manifest(store, "many")[0], read_manifest(store, "one")[0]
    assert many_manifest.sources == one_manifest.sources
    # (the two pages both crawled and named by another entry were embedded by two shards: that is counted)
    assert many_manifest.counts == one_manifest.counts | {"chunks_embedded": one.result.chunks_embedded + 2}
    assert [s.status for s in many_manifest.sources] == ["ok", "ok", "ok", "ok", "ok", "failed"]
    assert many_manifest.sources[3].reason == "already included by an earlier entry"
    assert many_manifest.job_id == job.job_id and one_manifest.job_id == one.job_id
    # the merge measured the model's background as one worker did (to the vectors' last bits)
    for language, background in one_manifest.background.items():
        merged = many_manifest.background[language]
        assert merged.median == pytest.approx(background.median, abs=1e-3)
        assert merged.p90 == pytest.approx(background.p90, abs=1e-3)
    assert set(many_manifest.background) == {"en", "zh"}
    # and `cdgpt eval` reports the same on the sample questions
    assert evaluated(capsys, "many") == evaluated(capsys, "one")
    assert chat("many", "How many people does room A seat?", store=store)["sources"][0]["source"].endswith("a.html")


def test_a_sharded_retraining_reuses_unchanged_documents_and_their_vectors(store, repo, monkeypatch):
    sharded(monkeypatch, per_shard=3)
    first = run_training(store, "handbook", [HANDBOOK])
    assert first.result.chunks_embedded == first.result.chunks > 0
    again = run_training(store, "handbook", [], kind="retrain")
    assert again.status == "succeeded", again.failure
    assert again.result.version == 2 and again.result.chunks == first.result.chunks
    assert again.result.chunks_embedded == 0 and again.result.documents_unchanged == 9
    assert artifacts(store, "handbook")["docstore"] == artifacts_of_version(store, first)


def artifacts_of_version(store, job) -> bytes:
    return store.get(f"models/{job.model_name}/versions/{job.result.version_id}/docstore.jsonl")[0]


def test_a_small_training_stays_on_one_worker(store, repo, monkeypatch):
    sharded(monkeypatch, above=9)
    job = run_training(store, "handbook", [HANDBOOK])  # 9 documents: not more than 9
    assert job.status == "succeeded" and job.progress.stage == "succeeded"
    assert job.progress.chunks_total == job.result.chunks and job.lease_expires_at - job.updated_at < (
        JobStore(store, get_settings()).shard_lease
    )


def test_a_failing_shard_fails_the_job_and_the_previous_version_keeps_serving(store, repo, openai_stub, monkeypatch):
    # Given a model with a version
    first = run_training(store, "handbook", [f"{HANDBOOK}/leave-and-holidays.md"])
    assert first.status == "succeeded"
    # When a sharded training meets an embedding server that keeps failing
    sharded(monkeypatch)
    openai_stub.fail_next(500, times=10_000, path="/v1/embeddings")
    job = run_training(store, "handbook", [HANDBOOK])
    # Then the job failed with the shard's reason, its files are gone, and version 1 still answers
    assert job.status == "failed" and job.failure.error == "UpstreamError"
    assert job.failure.message == "the embedding server answered HTTP 500 after retries"
    assert store.keys(f"jobs/{job.job_id}/shards/") == []
    openai_stub.clear_failures()
    assert chat("handbook", "How many days of annual leave do I get?", store=store)["model_version"] == 1
    assert [k for k in store.keys("models/handbook/versions/") if "/v000002-" in k] == []


def test_a_sharded_training_without_text_fails_with_the_reasons(store, repo, monkeypatch, tmp_path):
    sharded(monkeypatch, CDGPT_SOURCE_ROOT=str(tmp_path))
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    job = run_training(store, "images", ["a.png", "b.png", "c.png"])
    assert job.status == "failed" and job.failure.error == "TrainingFailed"
    assert job.failure.message.startswith("no source could be used (a.png: a.png: binary data, not text")
    assert store.keys(f"jobs/{job.job_id}/shards/") == [] and store.keys("models/images/") == []


class FailingJobWrite:
    """The store, except that the first write of the job's record after the manifest switched fails (S3
    answering 500): the merge published, but could not say so."""

    def __init__(self, store, job_id: str) -> None:
        self.store, self.job_key, self.published, self.failed = store, f"jobs/{job_id}/job.json", False, False

    def __getattr__(self, name):
        return getattr(self.store, name)

    def put_if(self, key: str, data: bytes, etag):
        if key == self.job_key and self.published and not self.failed:
            self.failed = True
            raise UpstreamError("S3 write failed: InternalError")
        etag = self.store.put_if(key, data, etag)
        self.published |= key.endswith("/manifest.json")
        return etag


def test_every_step_can_run_again_without_harm(store, repo, monkeypatch):
    # Given a sharded job handed over by its worker
    settings = sharded(monkeypatch, per_shard=4)
    request = JobRequest(kind="train", model_name="handbook", file_list=[HANDBOOK])
    job_id = operations.start_job(request, store=store, run=False).job.job_id
    jobs = JobStore(store, settings)
    held = jobs.claim(job_id, "test")
    planned = plan(job_id, request, store, settings)
    assert planned.shards == 3 and planned.documents == 9
    jobs.hand_over(held, JobProgress(stage="shards", documents_total=planned.documents))
    # When shard 0 is worked twice (a retry after a lost answer)
    first = steps.work(job_id, 0, store=store)
    assert steps.work(job_id, 0, store=store) == first
    # Then it is counted once
    assert jobs.get(job_id).progress.documents_done == 4
    for shard in range(1, planned.shards):
        steps.work(job_id, shard, store=store)
    assert jobs.get(job_id).progress.documents_done == 9
    # When the merge publishes but cannot record the job's end, then runs again
    flaky = FailingJobWrite(store, job_id)
    with pytest.raises(UpstreamError):
        steps.merge(job_id, store=flaky)
    assert read_manifest(store, "handbook")[0].job_id == job_id and jobs.get(job_id).status == "running"
    done = steps.merge(job_id, store=store)
    # Then the job ends with the version published the first time, and no second version is made
    manifest = read_manifest(store, "handbook")[0]
    assert done.status == "succeeded" and done.result.version_id == manifest.version_id and manifest.version == 1
    assert steps.merge(job_id, store=store) == jobs.get(job_id) == done
    assert steps.fail(job_id, store=store).status == "succeeded"  # a late failure path changes nothing
    assert store.keys(files.prefix(job_id)) == []


def test_the_cli_trains_in_shards_in_its_own_process(in_repo, monkeypatch, capsys):
    sharded(monkeypatch, per_shard=3)
    code = main(["train", "--model", "handbook", HANDBOOK])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("trained handbook v1: 9 documents, ")
    assert "shards: 100%" in err and "merging: 100%" in err
    [job] = operations.recent_jobs("handbook")
    assert job.status == "succeeded" and job.origin == "cli" and job.result.documents == 9


def test_cdgpt_serve_trains_in_shards_in_its_job_process(tmp_path):
    env = {"CDGPT_SHARD_ABOVE_DOCUMENTS": "1", "CDGPT_SHARD_DOCUMENTS": "4"}
    with serving(tmp_path, env=env) as server:
        response = server.post("/train", json={"model_name": "handbook", "file_list": [HANDBOOK], "wait_seconds": 20})
        assert response.status_code == 200, response.text
        assert response.json()["data"]["version"] == 1 and response.json()["data"]["documents"] == 9
        [job_id] = [p.name for p in (server.data_dir / "jobs").iterdir() if p.name.startswith("j")]
        job = server.request("GET", f"/jobs/{job_id}", headers=AUTH).json()["data"]
        assert job["status"] == "succeeded" and job["progress"]["documents_done"] == 9
        assert not (server.data_dir / files.prefix(job_id)).exists()
        record = Job.model_validate_json((server.data_dir / "jobs" / job_id / "job.json").read_text())
        assert record.lease_expires_at - record.finished_at > timedelta(minutes=10)  # the steps' lease: it ran sharded
        answer = server.post("/chat", json={"model_name": "handbook", "question": "How many days of annual leave?"})
        assert answer.json()["data"]["sources"][0]["source"] == f"{HANDBOOK}/leave-and-holidays.md"


def test_a_sharded_retraining_keeps_what_a_site_cannot_serve_now(store, repo, web, monkeypatch):
    """As one worker's does: a page down (503) and a sitemap that cannot be listed (nor its pages fetched)
    keep their documents."""
    sharded(monkeypatch)
    site(web)
    sitemap, page = f"{web.base}/maps/sitemap.xml", f"{web.base}/site/a.html"
    first = run_training(store, "rooms", [page, sitemap, f"{HANDBOOK}/benefits.txt"])
    assert first.status == "succeeded" and first.result.documents == 4
    for path in ("/site/a.html", "/maps/sitemap.xml", "/site/b.html", "/other/c.html"):  # the whole site down
        web.routes[path].status = 503
    again = run_training(store, "rooms", [], kind="retrain")
    assert again.status == "succeeded", again.failure
    assert again.result.documents == 4 and again.result.chunks_embedded == 0
    kept = [r.reason for r in again.result.sources]
    assert kept[0] == "1 of 1 documents could not be fetched and were kept as they were (first: HTTP 503)"
    assert kept[1].startswith("2 of 2 documents could not be fetched and were kept as they were (first: ")
    assert kept[2] is None


def test_a_sharded_retraining_keeps_a_sitemap_it_cannot_list_without_asking_its_pages(store, repo, web, monkeypatch):
    """Its pages are kept as they were, each with the sitemap's failure, and none is requested: against a
    host that stalls, each request would hold a shard up to its timeout."""
    sharded(monkeypatch)
    site(web)
    sitemap = f"{web.base}/maps/sitemap.xml"
    assert run_training(store, "rooms", [sitemap, f"{HANDBOOK}/benefits.txt"]).result.documents == 3
    web.routes["/maps/sitemap.xml"].status = 503
    web.hits.clear()
    again = run_training(store, "rooms", [], kind="retrain")
    assert again.status == "succeeded", again.failure
    assert again.result.documents == 3 and again.result.documents_kept == 2
    assert web.hits == ["/maps/sitemap.xml"]
    reason = again.result.sources[0].reason
    assert reason.startswith("2 of 2 documents could not be fetched and were kept as they were (first: ")
    assert "HTTP 503" in reason
