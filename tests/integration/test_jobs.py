"""Training jobs and model management, in a local folder and in S3 (moto): one job per model, leases
that expire, idempotency keys, deletion that a running training cannot undo, and adding or removing
sources with only new text embedded."""

from __future__ import annotations

import threading
import time

import pytest

from cdgpt import operations
from cdgpt.answer.answering import chat
from cdgpt.api.contract import job_error, status_for
from cdgpt.clients import reset_clients
from cdgpt.errors import (
    ConcurrentUpdate,
    IdempotencyMismatch,
    InvalidRequest,
    JobNotFound,
    ModelNotFound,
    TrainingFailed,
)
from cdgpt.local.server import _CfnLoader
from cdgpt.models.registry import current, manifest_key, read_manifest
from cdgpt.settings import get_settings
from cdgpt.training import pipeline
from cdgpt.training.jobs import JobRequest, JobStore
from cdgpt.training.pipeline import train
from cdgpt.training.worker import run_job
from tests.support import REPO, in_threads
from tests.support.stores import sources, store  # noqa: F401
from tests.support.training import CountingEmbedder

QUESTION = "How many days of annual leave do I get?"


def request(sources: list[str], model: str = "m") -> JobRequest:
    return JobRequest(kind="train", model_name=model, file_list=sources)


def started(store, req: JobRequest, key: str | None = None):
    """Record the job without starting a worker: the test runs it (or not) itself."""
    return operations.start_job(req, key, store=store, run=False)


def test_a_job_runs_to_a_published_version_with_its_progress(store, sources):
    job = started(store, request(sources)).job
    assert job.status == "queued" and job.progress.stage == "queued"
    finished = run_job(job.job_id, store=store)
    assert finished is not None and finished.status == "succeeded"
    assert finished.result is not None and finished.result.version == 1
    assert finished.progress.documents_done == finished.progress.documents_total == 2
    assert finished.progress.chunks_embedded == finished.progress.chunks_total == finished.result.chunks
    assert finished.started_at and finished.finished_at and finished.worker
    assert operations.job_status(job.job_id, store=store) == finished
    assert chat("m", QUESTION, store=store)["model_version"] == 1


def test_changing_the_sources_of_a_model_larger_than_one_worker_rebuilds_is_refused_up_front(store, sources):
    train("m", sources, store=store)
    chunks = read_manifest(store, "m")[0].counts["chunks"]
    smaller = get_settings().model_copy(update={"max_training_chunks": chunks - 1})
    change = JobRequest(kind="sources", model_name="m", remove=[sources[0]])
    with pytest.raises(InvalidRequest, match=f"has {chunks} chunks, more than one worker rebuilds"):
        operations.start_job(change, store=store, settings=smaller, run=False)
    assert JobStore(store, get_settings()).recent() == []  # no job recorded
    assert operations.start_job(change, store=store, run=False).created


def test_a_second_request_for_a_training_model_gets_the_running_job(store, sources):
    first = started(store, request(sources))
    again = started(store, request(sources))
    assert first.created and not again.created and again.job.job_id == first.job.job_id
    # another model is not held up
    assert started(store, request(sources, "other")).created
    # once the job has finished, the model can be trained again
    run_job(first.job.job_id, store=store)
    assert started(store, request(sources)).created


def test_another_request_for_a_training_model_is_refused_not_folded_into_the_running_job(store, sources):
    first = started(store, request(sources)).job
    # another file list, or another prompt, would not be done by the running job: refused, naming it
    for other in (request([*sources, "more.md"]), request(sources).model_copy(update={"prompt": "Be brief."})):
        with pytest.raises(ConcurrentUpdate, match=f"training from another request \\(job {first.job_id}"):
            started(store, other)
    assert [job.job_id for job in JobStore(store, get_settings()).recent()] == [first.job_id]
    assert run_job(first.job_id, store=store).status == "succeeded"
    assert started(store, request([*sources, "more.md"])).created  # and accepted once the model is free


def test_concurrent_requests_start_exactly_one_job(store, sources):
    results = []
    barrier = threading.Barrier(6)

    def ask() -> None:
        barrier.wait()
        results.append(started(store, request(sources)))

    in_threads(6, lambda _: ask())
    assert sum(r.created for r in results) == 1
    assert len({r.job.job_id for r in results}) == 1
    assert len(JobStore(store, get_settings()).recent()) == 1  # the losers left no job behind


def test_an_idempotency_key_returns_the_same_job_even_after_it_finished(store, sources):
    first = started(store, request(sources), key="retry-me")
    run_job(first.job.job_id, store=store)
    again = started(store, request(sources), key="retry-me")
    assert not again.created and again.job.job_id == first.job.job_id and again.job.status == "succeeded"
    with pytest.raises(IdempotencyMismatch, match="different request"):
        started(store, request([*sources, "more"]), key="retry-me")
    assert started(store, request(sources), key="another-key").created  # a new key is a new training
    # another model's caller (another key's scope) choosing the same key starts its own training
    other = started(store, request(sources, model="other"), key="retry-me")
    assert other.created and other.job.model_name == "other"


def test_a_model_in_its_first_training_is_listed_as_training_and_leaves_the_list_if_it_fails(store, sources):
    job = started(store, request(sources, model="first")).job
    [listed] = operations.list_models(store=store)
    assert (listed.model_name, listed.status, listed.training_job, listed.version) == (
        "first",
        "training",
        job.job_id,
        None,
    )
    assert operations.list_models(lambda name: name != "first", store=store) == []  # a key scoped elsewhere
    JobStore(store, get_settings()).fail(job.job_id, "no source could be used", "NoUsableSources")
    assert operations.list_models(store=store) == []


def test_the_stacks_bucket_frees_an_idempotency_key_a_day_later():
    rules = _CfnLoader.load((REPO / "template.yaml").read_text())["Resources"]["ArtifactsBucket"]["Properties"]
    [rule] = [r for r in rules["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "jobs/keys/"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == 1


def test_the_stacks_bucket_expires_job_records_after_90_days_and_nothing_else_of_jobs(store, sources):
    rules = _CfnLoader.load((REPO / "template.yaml").read_text())["Resources"]["ArtifactsBucket"]["Properties"]
    [rule] = [r for r in rules["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "jobs/j"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == 90
    [locks] = [r for r in rules["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "jobs/models/"]
    assert locks["ExpirationInDays"] == 90 > get_settings().job_start_s / 86400  # far longer than a job holds one
    job = started(store, request(sources), key="k").job
    records = [k for k in store.keys("jobs/") if k.startswith(rule["Prefix"])]
    assert records and all(k.startswith(f"jobs/{job.job_id}/") for k in records)  # not the lock, not the key


def test_a_worker_that_stops_renewing_its_lease_leaves_a_failed_job_and_a_free_model(store, sources, monkeypatch):
    train("m", sources, store=store)
    monkeypatch.setenv("CDGPT_JOB_LEASE_SECONDS", "0.2")
    monkeypatch.setenv("CDGPT_JOB_HEARTBEAT_SECONDS", "0.1")
    reset_clients()
    jobs = JobStore(store, get_settings())
    job = started(store, request(sources)).job
    claimed = jobs.claim(job.job_id, "a worker that will die")  # claimed, then never renewed
    assert claimed is not None and (claimed.job.status, claimed.job.progress.stage) == ("running", "starting")
    failed = jobs.wait(job.job_id, 10)
    assert (failed.status, failed.progress.stage) == ("failed", "failed") and failed.failure is not None
    assert "stopped renewing its lease" in failed.failure.message
    assert chat("m", QUESTION, store=store)["model_version"] == 1  # the previous version keeps serving
    assert run_job(job.job_id, store=store) is None  # a late worker cannot take it back
    retrained = started(store, request(sources))
    assert retrained.created and run_job(retrained.job.job_id, store=store).result.version == 2


def test_a_job_no_worker_started_fails_after_its_start_lease(store, sources, monkeypatch):
    monkeypatch.setenv("CDGPT_JOB_START_SECONDS", "0.1")
    reset_clients()
    job = started(store, request(sources)).job
    failed = JobStore(store, get_settings()).wait(job.job_id, 10)
    assert failed.status == "failed" and "never started" in failed.failure.message
    assert run_job(job.job_id, store=store) is None


def test_a_failed_training_is_a_failed_job_with_its_reason(store, sources):
    job = started(store, request(["docs/missing.md"])).job
    failed = run_job(job.job_id, store=store)
    assert failed.status == "failed" and failed.failure.error == "TrainingFailed"
    assert failed.failure.message.startswith("no source could be used (docs/missing.md: no such file")


def test_unknown_jobs_are_not_found(store):
    for job_id in ("j20260101000000000000-000000000000", "../models/m/manifest", "x" * 200):
        with pytest.raises(JobNotFound):
            operations.job_status(job_id, store=store)


def test_deleting_a_model_cancels_its_training_which_cannot_resurrect_it(store, sources):
    train("m", sources, store=store)
    job = started(store, request(sources)).job
    deleted_meanwhile = []

    def progress(stage: str, advance: int, total: int) -> None:
        if stage == "fetching" and not deleted_meanwhile:  # the training is under way: delete the model now
            deleted_meanwhile.append(operations.delete("m", store=store))

    finished = run_job(job.job_id, store=store, progress=progress)
    assert deleted_meanwhile[0].cancelled_job == job.job_id
    assert finished.status == "failed" and "deleted" in finished.failure.message
    with pytest.raises(ModelNotFound):
        chat("m", QUESTION, store=store)
    assert [k for k in store.keys("models/m/") if k != manifest_key("m")] == []  # no version left behind
    assert [s.model_name for s in operations.list_models(store=store)] == []
    # a deleted model can be trained again, and its version numbers go on from the deleted one's
    assert train("m", sources, store=store).version == 2


def test_a_training_that_started_before_a_deletion_cannot_publish_over_it(store, sources):
    from cdgpt.models.registry import publish

    train("m", sources, store=store)
    base = current(store, "m")  # what a training reads as it starts
    operations.delete("m", store=store)
    fields = base.manifest.model_dump(include={"embedding", "counts", "chunking", "sources", "prompt"})
    with pytest.raises(ConcurrentUpdate, match="retrained or deleted"):
        publish(store, "m", base, {"index": ("index.faiss", b"x")}, **fields)
    assert store.keys("models/m/versions/") == []
    with pytest.raises(ModelNotFound):
        read_manifest(store, "m")


def test_deleting_a_model_during_its_first_training_cancels_it_and_nothing_is_published(store, sources):
    job = started(store, request(sources)).job
    deleted_meanwhile = []

    def progress(stage: str, advance: int, total: int) -> None:
        if stage == "fetching" and not deleted_meanwhile:
            deleted_meanwhile.append(operations.delete("m", store=store))

    finished = run_job(job.job_id, store=store, progress=progress)
    assert (deleted_meanwhile[0].cancelled_job, deleted_meanwhile[0].files_deleted) == (job.job_id, 0)
    assert (finished.status, finished.progress.stage) == ("failed", "failed") and "deleted" in finished.failure.message
    assert store.keys("models/m/versions/") == [] and operations.list_models(store=store) == []
    with pytest.raises(ModelNotFound):
        chat("m", QUESTION, store=store)
    assert train("m", sources, store=store).version == 1  # the name is free again


def test_a_worker_claiming_the_first_training_while_it_is_deleted_cannot_publish(store, sources, monkeypatch):
    job = started(store, request(sources)).job
    real_delete = operations.delete_model

    def delete_while_a_worker_claims(*args, **kwargs):  # a worker comes for the queued job right after
        deleted = real_delete(*args, **kwargs)
        run_job(job.job_id, store=store)
        return deleted

    monkeypatch.setattr(operations, "delete_model", delete_while_a_worker_claims)
    assert operations.delete("m", store=store).cancelled_job == job.job_id
    assert operations.job_status(job.job_id, store=store).status == "failed"
    assert store.keys("models/m/versions/") == [] and operations.list_models(store=store) == []


def test_a_worker_that_claimed_the_job_before_a_deletion_cannot_publish_over_it(store, sources, monkeypatch):
    train("m", sources, store=store)
    job = started(store, request(sources)).job
    deleted = []

    def delete_then_read(*args):  # the job is claimed; the model is deleted before the training reads it
        if not deleted:
            deleted.append(operations.delete("m", store=store))
        return current(*args)

    monkeypatch.setattr(pipeline, "current", delete_then_read)
    finished = run_job(job.job_id, store=store)
    assert deleted[0].cancelled_job == job.job_id
    assert finished.status == "failed" and "deleted" in finished.failure.message
    assert store.keys("models/m/versions/") == [] and operations.list_models(store=store) == []
    with pytest.raises(ModelNotFound):
        read_manifest(store, "m")
    assert train("m", sources, store=store).version == 2  # another training may publish over the tombstone


def test_a_job_that_ran_out_of_time_reads_as_the_training_failure_it_is(store, sources):
    job = started(store, request(sources)).job
    failed = run_job(job.job_id, store=store, deadline=time.monotonic() - 1)
    assert failed.status == "failed" and failed.failure.error == "OutOfTime"
    error = job_error(failed)  # what POST /train answers for it, waiting or replayed
    assert isinstance(error, TrainingFailed) and status_for(error) == 422 and "ran out of time" in str(error)


def test_deleting_an_unknown_model_is_not_found(store):
    with pytest.raises(ModelNotFound):
        operations.delete("never-trained", store=store)


def test_models_are_listed_and_described(store, sources):
    train("m", ["docs/leave.md"], store=store)
    train("n", ["docs"], store=store)
    listed = {s.model_name: s for s in operations.list_models(store=store)}
    assert set(listed) == {"m", "n"}
    assert listed["n"].status == "ready" and listed["n"].version == 1 and listed["n"].documents == 2
    assert listed["n"].embedding.provider == "local" and listed["n"].chunks >= 2
    detail = operations.describe_model("n", store=store)
    assert [s.entry for s in detail.sources] == ["docs"] and detail.sources[0].status == "ok"
    assert {d["source"] for d in detail.sources[0].documents} == {"docs/leave.md", "docs/expenses.txt"}
    assert detail.sizes["index"] > 0 and detail.training_job is None
    job = started(store, request(["docs"], "n")).job
    assert operations.describe_model("n", store=store).training_job == job.job_id
    with pytest.raises(ModelNotFound):
        operations.describe_model("nobody", store=store)


@pytest.mark.parametrize(("artifact", "damage"), [("index", b""), ("docstore", None)])
def test_a_model_whose_artifact_is_cut_short_or_gone_is_listed_as_damaged(store, sources, artifact, damage):
    train("m", ["docs/leave.md"], store=store)
    manifest, _ = read_manifest(store, "m")
    key = f"models/m/{manifest.files[artifact]}"
    store.put(key, damage) if damage is not None else store.delete([key])
    problem = f"its {artifact} is " + ("not the size its manifest records" if damage is not None else "missing")
    [listed] = operations.list_models(store=store)
    assert (listed.status, listed.problem) == ("damaged", problem)
    detail = operations.describe_model("m", store=store)
    assert (detail.status, detail.problem) == ("damaged", problem)
    train("m", ["docs/leave.md"], store=store)  # retraining repairs it
    assert [s.status for s in operations.list_models(store=store)] == ["ready"]


def test_adding_a_source_embeds_only_its_text_and_keeps_the_rest(store, sources):
    from cdgpt.training.pipeline import update_sources

    train("m", ["docs/leave.md"], store=store)
    embedder = CountingEmbedder()
    outcome = update_sources("m", ["docs/expenses.txt"], [], store=store, embedder=embedder)
    assert outcome.version == 2 and outcome.documents == 2
    assert embedder.texts and all("Hotels in London" in t or "Expenses" in t for t in embedder.texts)
    assert outcome.chunks_embedded == len(embedder.texts) < outcome.chunks
    manifest, _ = read_manifest(store, "m")
    assert [s.entry for s in manifest.sources] == ["docs/leave.md", "docs/expenses.txt"]
    answer = chat("m", "How much is a hotel in London reimbursed?", store=store)
    assert answer["sources"][0]["source"] == "docs/expenses.txt"
    # removing it takes its chunks away and embeds nothing
    embedder.texts.clear()
    removed = update_sources("m", [], ["docs/expenses.txt"], store=store, embedder=embedder)
    assert removed.chunks_embedded == 0 and embedder.texts == [] and removed.documents == 1
    assert {s["source"] for s in chat("m", "hotel London reimbursed", store=store)["sources"]} <= {"docs/leave.md"}


def test_sources_requests_are_checked_before_a_job_is_recorded(store, sources):
    with pytest.raises(ModelNotFound):
        started(store, JobRequest(kind="sources", model_name="nobody", add=["docs"]))
    train("m", ["docs/leave.md"], store=store)
    with pytest.raises(InvalidRequest, match="not a source of model"):
        started(store, JobRequest(kind="sources", model_name="m", remove=["docs/other.md"]))
    with pytest.raises(InvalidRequest, match="add or to remove"):
        started(store, JobRequest(kind="sources", model_name="m"))
    assert JobStore(store, get_settings()).recent() == []


# -- found by reviewing the jobs as an operator meets them --------------------------------------------


def test_an_idempotency_key_of_a_deleted_model_trains_it_again(store, sources):
    """The retried request was answered with the deleted model's old job: "success" for nothing trained."""
    first = started(store, request(sources), "nightly-sync").job
    run_job(first.job_id, store=store)
    operations.delete("m", store=store)
    again = started(store, request(sources), "nightly-sync")
    assert again.created and again.job.job_id != first.job_id
    assert run_job(again.job.job_id, store=store).status == "succeeded"


def test_a_job_record_that_cannot_be_read_is_an_unknown_job_and_its_key_starts_afresh(store, sources):
    first = started(store, request(sources), "sync-1").job
    run_job(first.job_id, store=store)
    store.put(f"jobs/{first.job_id}/job.json", b"")
    with pytest.raises(JobNotFound):
        operations.job_status(first.job_id, store=store)
    again = started(store, request(sources), "sync-1")
    assert again.created and again.job.job_id != first.job_id


def test_an_interrupted_training_fails_its_job_at_once_and_frees_the_model(store, sources):
    """Ctrl-C on `cdgpt train`: the model was locked until the job's lease ran out."""
    job = started(store, request(sources)).job

    def interrupt(stage: str, advance: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(job.job_id, store=store, progress=interrupt)
    failed = operations.job_status(job.job_id, store=store)
    assert failed.status == "failed" and failed.failure.message == "the training was interrupted"
    assert started(store, request(sources)).created


def test_the_documents_to_fetch_are_counted_before_the_first_is_fetched(store, sources):
    seen: list[tuple[str, int, int]] = []
    train("m", sources, store=store, progress=lambda stage, advance, total: seen.append((stage, advance, total)))
    assert seen[0] == ("fetching", 0, 2)


def test_adding_a_source_the_model_holds_already_counts_its_documents_once(store, sources):
    before = train("m", sources, store=store)
    added = pipeline.update_sources("m", ["docs/leave.md"], [], store=store)
    assert added.documents == before.documents == 2
    assert added.sources[-1].reason == "already included by an earlier entry"


def test_removing_a_crawl_with_other_options_says_so(store, sources):
    train("m", sources, store=store)
    crawl = {"url": "https://intranet.example.com/", "crawl": {"max_pages": 3}}
    manifest = read_manifest(store, "m")[0]
    manifest.sources[0].entry = pipeline.parse_entry({**crawl, "crawl": {"max_pages": 2}})
    with pytest.raises(InvalidRequest, match="with these crawl options"):
        pipeline.check_removable("m", manifest, [pipeline.parse_entry(crawl)])
