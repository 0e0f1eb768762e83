"""The steps of a sharded training, each a plain function of its job: `work` (one shard), `merge` (the
version, published) and `fail` (the failure path). Step Functions calls them through
functions/steps/app.py (`handle`); runner.py calls them in this process.

Any step may run again (Step Functions retries a step whose answer it did not get) and does no harm
then: a shard already written is not written again, and a job already ended is not ended again. A
step that fails records why under the job's shards, for the failure path to report: a Distributed Map
that fails passes on no error of its items.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from cdgpt import errors
from cdgpt.errors import CdgptError, ConcurrentUpdate
from cdgpt.index.embeddings import Embedder, make_embedder
from cdgpt.ingest.chunking import Chunk
from cdgpt.ingest.incremental import Previous
from cdgpt.ingest.pipeline import ingest
from cdgpt.limits import MAX_SHARDS
from cdgpt.models.registry import Current, Manifest, SourceRecord, current
from cdgpt.models.store import ArtifactStore, default_store
from cdgpt.settings import Settings, get_settings
from cdgpt.training import pipeline
from cdgpt.training.attention import needs_attention
from cdgpt.training.jobs import Job, JobFailure, JobLost, JobProgress, JobStore, OutOfTime, check_job_id, failure_of
from cdgpt.training.pipeline import Progress, TrainOutcome, chunking, embed_and_write, mapped, outcome
from cdgpt.training.reuse import PreviousVersion
from cdgpt.training.sharded import files
from cdgpt.training.sharded.files import Plan, ShardResult, ShardSpec, read_plan, read_result, read_spec, shard_key
from cdgpt.training.sharded.merge import assemble, embedding_of, write_merged
from cdgpt.usage import Usage, add_usage, metering

log = logging.getLogger(__name__)


def _context(settings: Settings | None, store: ArtifactStore | None) -> tuple[Settings, ArtifactStore]:
    settings = settings or get_settings()
    return settings, store or default_store(settings)


# -- work -------------------------------------------------------------------------------------------


def work(
    job_id: str,
    shard: int,
    *,
    store: ArtifactStore | None = None,
    settings: Settings | None = None,
    deadline: float | None = None,
) -> ShardResult:
    """Ingest and embed one shard's documents and write its chunks, vectors and records. `deadline`
    (time.monotonic) ends it with a reason before its worker's time runs out."""
    settings, store = _context(settings, store)
    with _recorded(store, job_id, f"work-{shard:05d}"):
        done = read_result(store, job_id, shard)
        if done is not None:  # a retried step: the shard was written
            return done
        jobs = JobStore(store, settings)
        jobs.renew_shards(job_id)  # JobLost when the job was failed meanwhile
        plan, spec = read_plan(store, job_id), read_spec(store, job_id, shard)
        embedder = make_embedder(settings)
        base = _unchanged(current(store, plan.model_name), plan)
        unreachable = {i.entry: i.unreachable for i in spec.items if isinstance(i.entry, str) and i.unreachable}
        previous, unchanged = _previous(store, base.manifest, embedder, settings, plan.keep_unavailable, unreachable)
        check = _keeping(jobs, job_id, settings, deadline)
        scopes = [item.within for item in spec.items]
        records, chunks = ingest([item.entry for item in spec.items], settings, check, unchanged, scopes)
        with metering() as used:
            used.embedding_model = embedder.model
            result = _write_shard(
                store, job_id, shard, spec, records, chunks, embedder, previous, settings, check, used
            )
        add_usage(store, plan.model_name, used)  # each shard's tokens; the merge counts the training
        jobs.renew_shards(job_id, lambda progress: _shard_done(progress, spec, result))
        return result


def _unchanged(state: Current, plan: Plan) -> Current:
    """The model's state, which must still be the one the training started from."""
    if state.etag != plan.base_etag:
        raise ConcurrentUpdate(f"model {plan.model_name!r} was retrained or deleted while this training ran; retry")
    return state


_reused: dict[tuple[str, ...], tuple[PreviousVersion, Previous]] = {}
_reused_lock = threading.Lock()


def _previous(
    store: ArtifactStore,
    manifest: Manifest | None,
    embedder: Embedder,
    settings: Settings,
    keep_unavailable: bool,
    unreachable: dict[str, str],
) -> tuple[PreviousVersion, Previous]:
    """What the shards reuse from the current version, read once per process (a warm Lambda container
    working one shard after another, or the threads of the local runner)."""
    if manifest is None:
        return pipeline.previous_for(store, None, embedder, settings)
    key = (store.location, manifest.version_id, embedder.provider, embedder.model, json.dumps(chunking(settings)))
    with _reused_lock:
        if key not in _reused:
            _reused.clear()
            _reused[key] = pipeline.previous_for(store, manifest, embedder, settings)
        previous, documents = _reused[key]
        return previous, documents.keeping(keep_unavailable, unreachable)


def _keeping(jobs: JobStore, job_id: str, settings: Settings, deadline: float | None) -> Progress:
    """A progress callback that keeps the job's lease (renewed every quarter of it) and the step's time."""
    renewed = time.monotonic()

    def check(stage: str, advance: int, total: int) -> None:
        nonlocal renewed
        if deadline is not None and time.monotonic() > deadline:
            raise OutOfTime(
                f"a step of the sharded training ran out of time while {stage}; lower CDGPT_SHARD_DOCUMENTS"
            )
        if time.monotonic() - renewed > settings.shard_lease_s / 4:
            jobs.renew_shards(job_id)
            renewed = time.monotonic()

    return check


def _write_shard(
    store: ArtifactStore,
    job_id: str,
    shard: int,
    spec: ShardSpec,
    records: list[SourceRecord],
    chunks: list[Chunk],
    embedder: Embedder,
    previous: PreviousVersion,
    settings: Settings,
    check: Progress,
    used: Usage,
) -> ShardResult:
    """The shard's chunks (a docstore), vectors (an exact index, whatever its size) and term counts into
    the store, then its result (with what its embedding used), which marks it done."""
    chunk_count = embedded = dim = 0
    if chunks:
        with tempfile.TemporaryDirectory(dir=settings.work_dir, prefix="cdgpt-shard-") as work:
            built = embed_and_write(Path(work), chunks, embedder, previous, settings, check, shard=True)
            for path in built.files.values():
                with mapped(path) as data:
                    store.put(shard_key(job_id, shard, path.name), data)
        chunk_count, embedded, dim = built.chunks, built.embedded, built.dim
    result = ShardResult(
        records=records,
        of=[item.of for item in spec.items],
        chunks=chunk_count,
        embedded=embedded,
        dim=dim,
        provider=embedder.provider,
        model=embedder.model,
        usage=used.model_copy(),
    )
    store.put(shard_key(job_id, shard, "result.json"), result.model_dump_json().encode())
    return result


def _shard_done(progress: JobProgress, spec: ShardSpec, result: ShardResult) -> JobProgress:
    """The job's progress once a shard is written; the chunks' total grows as shards finish."""
    return progress.model_copy(
        update={
            "stage": "shards",
            "documents_done": progress.documents_done + spec.documents,
            "chunks_embedded": progress.chunks_embedded + result.chunks,
            "chunks_total": progress.chunks_total + result.chunks,
        }
    )


# -- merge ------------------------------------------------------------------------------------------


def merge(
    job_id: str,
    *,
    store: ArtifactStore | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> Job:
    """Merge the shards into one version, publish it over the manifest the training started from (the
    registry's fencing), and end the job with it."""
    settings, store = _context(settings, store)
    jobs = JobStore(store, settings)
    with _recorded(store, job_id, "merge"):
        job = jobs.get(job_id)
        if job.status == "succeeded":  # a retried step: it had ended the job
            files.remove(store, job_id)
            return job
        plan = read_plan(store, job_id)
        state = current(store, plan.model_name)
        if state.manifest is not None and state.manifest.job_id == job_id:  # published, the job not yet ended
            return _succeeded(jobs, store, job_id, outcome(state.manifest))
        state = _unchanged(state, plan)
        results = [_result(store, job_id, shard) for shard in range(plan.shards)]
        assembled = assemble(plan, results)
        total = int(sum(int(kept.sum()) for kept in assembled.keep))
        if not total:
            raise pipeline.no_text(assembled.records)
        embedding = embedding_of(results)
        jobs.renew_shards(job_id, lambda p: _stage(p, "merging", plan.documents, total))
        check = _keeping(jobs, job_id, settings, deadline)

        def report(advance: int, total: int) -> None:
            check("merging", advance, total)
            if progress:
                progress("merging", advance, total)

        with tempfile.TemporaryDirectory(dir=settings.work_dir, prefix="cdgpt-merge-") as work:
            built = write_merged(store, job_id, assembled, results, Path(work), settings, report)
            jobs.renew_shards(job_id, lambda p: _stage(p, "publishing", plan.documents, total))
            embedder = make_embedder(settings, embedding.provider, embedding.model, embedding.dim)
            with metering() as used:  # the background's probes; the chunks' tokens were counted by the shards
                published = pipeline.publish_built(
                    store, plan.model_name, state, assembled.records, built, plan.prompt, embedder, settings, job_id
                )
        add_usage(store, plan.model_name, used, trainings=1)
        return _succeeded(jobs, store, job_id, published.model_copy(update={"usage": _total(used, results)}))


def _total(merged: Usage, results: list[ShardResult]) -> Usage:
    """The training's usage: the shards' embedding and the merge's own (the background's probes)."""
    total = merged.model_copy()
    for used in (r.usage for r in results if r.usage):
        total.embedding_model = total.embedding_model or used.embedding_model
        if used.embedding_tokens is not None:
            total.embedding_tokens = (total.embedding_tokens or 0) + used.embedding_tokens
    return total


def _result(store: ArtifactStore, job_id: str, shard: int) -> ShardResult:
    result = read_result(store, job_id, shard)
    if result is None:
        raise errors.TrainingFailed(f"shard {shard} of the training was not written")
    return result


def _stage(progress: JobProgress, stage: str, documents: int, chunks: int) -> JobProgress:
    return JobProgress(
        stage=stage, documents_done=documents, documents_total=documents, chunks_embedded=chunks, chunks_total=chunks
    )


def _succeeded(jobs: JobStore, store: ArtifactStore, job_id: str, result: TrainOutcome) -> Job:
    job = jobs.succeed(job_id, result)
    files.remove(store, job_id)
    return job


# -- the failure path -------------------------------------------------------------------------------


def fail(
    job_id: str,
    error: Mapping[str, Any] | None = None,
    *,
    store: ArtifactStore | None = None,
    settings: Settings | None = None,
) -> Job:
    """The job fails with the reason a step recorded (else what Step Functions caught, `error`: its
    Error and Cause), its shard files go, and the model's current version keeps serving. A version this
    job did publish (its merge failed after the switch) stands, and the job succeeds with it."""
    settings, store = _context(settings, store)
    jobs = JobStore(store, settings)
    job = jobs.get(job_id)
    if job.active:
        state = current(store, job.model_name)
        if state.manifest is not None and state.manifest.job_id == job_id:
            job = jobs.succeed(job_id, outcome(state.manifest))
        else:
            failure = _reason(store, job_id, error or {})
            job = jobs.fail(job_id, failure.message, failure.error)
    files.remove(store, job_id)
    return job


def _reason(store: ArtifactStore, job_id: str, error: Mapping[str, Any]) -> JobFailure:
    """The first recorded domain error, else the first recorded failure, else what was caught."""
    recorded = files.recorded_errors(store, job_id)
    known = [failure for failure in recorded if failure.error != "internal"]
    if known or recorded:
        return (known or recorded)[0]
    name = str(error.get("Error", "unknown"))[:100]
    kind = getattr(errors, name, None)
    if isinstance(kind, type) and issubclass(kind, CdgptError):  # a domain error the step could not record
        try:
            message = str(json.loads(str(error.get("Cause")))["errorMessage"])[:2000]
            return JobFailure(error=name, message=message)
        except (ValueError, KeyError, TypeError):
            pass
    return JobFailure(error="internal", message=f"internal error; job {job_id} ({name}; see the execution's history)")


@contextmanager
def _recorded(store: ArtifactStore, job_id: str, step: str) -> Iterator[None]:
    """Record why the step failed, then fail it."""
    try:
        yield
    except JobLost:  # the job was ended by someone else: that reason stands
        raise
    except Exception as exc:
        failure = failure_of(exc, job_id)
        if failure.error == "internal":
            log.exception("a step failed unexpectedly", extra={"job_id": job_id, "step": step})
        else:
            log.info("a step failed", extra={"job_id": job_id, "step": step, "error": failure.error})
        try:
            files.write_error(store, job_id, step, failure)
        except Exception:
            log.warning("could not record a step's failure", extra={"job_id": job_id, "step": step}, exc_info=True)
        raise


# -- Step Functions' door -----------------------------------------------------------------------------


class StepEvent(BaseModel):
    """What the state machine passes a step (template.yaml)."""

    step: Literal["work", "merge", "fail"]
    job_id: str = Field(max_length=64)
    shard: int | None = Field(None, ge=0, lt=MAX_SHARDS)
    error: dict[str, Any] | None = None  # the failure path: what the Catch caught


def handle(event: Mapping[str, Any], deadline: float | None = None) -> dict[str, object]:
    """Run the step an event names; a step that fails raises, for the state machine to retry or catch."""
    request = StepEvent.model_validate(event)
    job_id = check_job_id(request.job_id)
    if request.step == "work":
        if request.shard is None:
            raise errors.InvalidRequest("a work step names its shard")
        result = work(job_id, request.shard, deadline=deadline)
        return {"shard": request.shard, "chunks": result.chunks}
    job = merge(job_id, deadline=deadline) if request.step == "merge" else fail(job_id, request.error)
    ended: dict[str, object] = {"job_id": job.job_id, "status": job.status, "model_name": job.model_name}
    if attention := needs_attention(job):  # the worker that handed it over has long finished
        ended["attention"] = attention
    return ended | ({"usage": job.result.usage} if job.result and job.result.usage else {})
