"""What the API and the CLI can do with models and their training jobs, in one place for both doors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass

from cdgpt import usage
from cdgpt.answer import conversations
from cdgpt.errors import CdgptError, ConcurrentUpdate, InvalidRequest, UpstreamError
from cdgpt.models import catalog
from cdgpt.models.registry import check_model_name, current, delete_model, read_manifest
from cdgpt.models.store import ArtifactStore, default_store
from cdgpt.settings import Settings, get_settings
from cdgpt.training.jobs import Job, JobRequest, JobStore
from cdgpt.training.launch import launch
from cdgpt.training.pipeline import check_file_list, check_prompt, check_removable

log = logging.getLogger(__name__)

SCHEDULE_STARTERS = 8  # scheduled jobs started at once


@dataclass(frozen=True)
class Started:
    job: Job
    created: bool  # False: the model was already training, or the Idempotency-Key named this job


def _context(settings: Settings | None, store: ArtifactStore | None) -> tuple[Settings, ArtifactStore]:
    settings = settings or get_settings()
    return settings, store or default_store(settings)


def check_request(request: JobRequest, store: ArtifactStore, settings: Settings) -> None:
    """Refuse what the job would refuse, before a job is recorded or anything is fetched."""
    check_model_name(request.model_name)
    if request.kind == "train":
        check_file_list(request.file_list)
        check_prompt(request.prompt)
        return
    manifest, _ = read_manifest(store, request.model_name)  # 404 for a model never trained, 503 if damaged
    if request.kind == "sources":
        if not request.add and not request.remove:
            raise InvalidRequest("give sources to add or to remove")
        chunks = manifest.counts.get("chunks", 0)
        if chunks > settings.max_training_chunks:  # it is rebuilt on one worker, which holds only so many
            raise InvalidRequest(
                f"model {request.model_name!r} has {chunks} chunks, more than one worker rebuilds "
                f"({settings.max_training_chunks}, CDGPT_MAX_TRAINING_CHUNKS): change its file_list and train it again"
            )
        for entries in (request.add, request.remove):
            if entries:
                check_file_list(entries)
        check_removable(request.model_name, manifest, request.remove)


def start_job(
    request: JobRequest,
    idempotency_key: str | None = None,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
    run: bool = True,
) -> Started:
    """Record a job and start its worker (unless `run` is False: the caller runs it inline)."""
    settings, store = _context(settings, store)
    check_request(request, store, settings)
    jobs = JobStore(store, settings)
    job, created = jobs.start(request, idempotency_key)
    if created and run:
        try:
            launch(job.job_id, settings)
        except UpstreamError as exc:
            jobs.fail(job.job_id, str(exc), "UpstreamError")
            raise
    return Started(job, created)


def job_status(
    job_id: str,
    visible: Callable[[str], bool] = lambda _: True,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
) -> Job:
    """The job, if its model is `visible` (an API key reads the jobs of the models it may read); else JobNotFound."""
    settings, store = _context(settings, store)
    return JobStore(store, settings).get(job_id, visible)


def wait_for(
    job_id: str, seconds: float, *, settings: Settings | None = None, store: ArtifactStore | None = None
) -> Job:
    settings, store = _context(settings, store)
    return JobStore(store, settings).wait(job_id, seconds)


def recent_jobs(
    model_name: str | None = None,
    limit: int = 50,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
) -> list[Job]:
    settings, store = _context(settings, store)
    return JobStore(store, settings).recent(limit, model_name)


def list_models(
    visible: Callable[[str], bool] = lambda _: True,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
) -> list[catalog.ModelSummary]:
    """The models `visible` lets through (an API key sees those it is scoped to)."""
    settings, store = _context(settings, store)
    jobs = JobStore(store, settings)
    return catalog.summaries(store, jobs.active_for, visible, jobs.held_models())


def describe_model(
    model_name: str, *, settings: Settings | None = None, store: ArtifactStore | None = None
) -> catalog.ModelDetail:
    settings, store = _context(settings, store)
    jobs = JobStore(store, settings)
    detail = catalog.detail(store, model_name, jobs.active_for(check_model_name(model_name)))
    return detail.model_copy(update={"usage": usage.summary(store, model_name)})


def usage_report(
    model_name: str | None = None,
    days: int = 30,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
) -> list[usage.UsageSummary]:
    """Daily usage of one model, or of every model that used any (deleted ones too), over the last `days` days.
    A name that never had a model nor any usage is a ModelNotFound, not a row of zeros."""
    settings, store = _context(settings, store)
    names = [check_model_name(model_name)] if model_name else usage.models_with_usage(store)
    if model_name:  # its manifest first: listing every model's usage is only for a name never trained
        state = current(store, model_name)
        if state.etag is None and model_name not in usage.models_with_usage(store):
            raise state.not_found(model_name)
    return [usage.summary(store, name, days) for name in names]


@dataclass(frozen=True)
class Deleted:
    model_name: str
    files_deleted: int
    cancelled_job: str | None


def delete(model_name: str, *, settings: Settings | None = None, store: ArtifactStore | None = None) -> Deleted:
    """Cancel the model's training if one runs (no worker can claim it then), then delete the model: a tombstone
    keeps a worker that claimed it already from publishing. The conversations kept with it go too. A model
    neither trained nor training is a ModelNotFound, and nothing changes."""
    settings, store = _context(settings, store)
    jobs = JobStore(store, settings)
    running = jobs.active_for(check_model_name(model_name))
    if running is not None:
        jobs.fail(running.job_id, f"model {model_name!r} was deleted while this job ran", "ConcurrentUpdate")
    try:
        files = delete_model(store, model_name, running.job_id if running else None)
    except CdgptError:
        with suppress(Exception):  # a deletion that failed half-way still forgets what was asked of the model
            state = current(store, model_name)
            if state.etag is not None and state.manifest is None:  # a tombstone: the model is gone
                _forget(store, jobs, model_name)
        raise
    _forget(store, jobs, model_name)
    return Deleted(model_name, files, running.job_id if running else None)


def _forget(store: ArtifactStore, jobs: JobStore, model_name: str) -> None:
    """What was asked of a deleted model: its conversations, and its Idempotency-Keys."""
    conversations.forget_model(store, model_name)
    jobs.forget_keys(model_name)


def schedule_retrains(
    names: list[str], *, settings: Settings | None = None, store: ArtifactStore | None = None
) -> dict[str, str]:
    """Start one retraining job per model ("*": every model); returns {model: job id or the reason it did not start}.
    Several start at once: each is a few conditional writes and an invocation, and hundreds of models must
    start within the 29 s the scheduled function has."""
    settings, store = _context(settings, store)
    if "*" in names:
        # a damaged one too when its manifest reads (it has a version): retrained on its sources, it is repaired
        names = [s.model_name for s in catalog.summaries(store, lambda _: None) if s.version is not None]

    def start(name: str) -> str:
        try:
            outcome = start_job(
                JobRequest(kind="retrain", model_name=name, origin="schedule"), settings=settings, store=store
            )
            return outcome.job.job_id if outcome.created else f"already training ({outcome.job.job_id})"
        except ConcurrentUpdate as exc:  # trained meanwhile from another request: that training stands
            return f"already training: {exc}"
        except CdgptError as exc:
            log.warning("scheduled retrain not started", extra={"model_name": name, "reason": str(exc)})
            return f"not started: {exc}"

    with ThreadPoolExecutor(max_workers=SCHEDULE_STARTERS) as pool:
        return dict(zip(names, pool.map(start, names), strict=True))
