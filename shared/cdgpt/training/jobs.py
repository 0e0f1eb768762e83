"""Training jobs, kept in the artifact store beside the models:

    jobs/<job_id>/job.json        status, timestamps, progress, lease, and the result or the reason
    jobs/<job_id>/request.json    what to train (written once; a file_list can be megabytes)
    jobs/models/<model>.json      the job that is (or last was) training the model: one at a time
    jobs/keys/<model>/<sha256>.json   the job an Idempotency-Key started for the model (on S3, expired a
                                  day later by a lifecycle rule)

On S3 a job's own records expire 90 days after their last change (a lifecycle rule on `jobs/j`), and so does a
model's lock (`jobs/models/`: rewritten by each training, so only a model untrained for 90 days loses it).

Every change is a conditional write on the record's etag. A worker holds its job by renewing a lease
(the heartbeat); a job whose lease ran out is failed by whoever reads it next, so a worker that was
killed or timed out never leaves its job "running" and never keeps the model locked.

A sharded training (training/sharded/) is handed over by its worker to the steps: its lease is then
CDGPT_SHARD_LEASE_SECONDS, longer than any one step runs, and every step renews it as it goes, with a
read-change-write that tries again when another step wrote first (`change`).
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from cdgpt.errors import (
    CdgptError,
    ConcurrentUpdate,
    IdempotencyMismatch,
    InvalidRequest,
    JobNotFound,
    TrainingFailed,
)
from cdgpt.ingest.sources.entries import Entry
from cdgpt.models.store import ArtifactStore
from cdgpt.settings import Settings
from cdgpt.training.pipeline import TrainOutcome

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "succeeded", "failed"]
ACTIVE: tuple[Status, ...] = ("queued", "running")
JOB_ID_CHARS = 40
LOCK_ATTEMPTS = 4
CHANGE_ATTEMPTS = 20  # steps finishing at the same moment each write the record once; a few collide


class JobLost(Exception):
    """The job was failed or cancelled by someone else (lease expired, model deleted): stop working on it."""


class OutOfTime(TrainingFailed):
    """The worker's own time limit is about to end the training."""


class JobRequest(BaseModel):
    kind: Literal["train", "sources", "retrain"]
    model_name: str
    file_list: list[Entry] = []
    prompt: str | None = None
    add: list[Entry] = []
    remove: list[Entry] = []
    # the sources the requesting key may train from (None: any; left out then, as before keys had them)
    within: list[str] | None = Field(None, exclude_if=lambda scope: scope is None)
    origin: Literal["api", "schedule", "cli"] = "api"

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude={"origin"}).encode("utf-8", "surrogatepass")).hexdigest()


class JobProgress(BaseModel):
    stage: str = "queued"
    documents_done: int = 0
    documents_total: int = 0
    chunks_embedded: int = 0
    chunks_total: int = 0


class JobFailure(BaseModel):
    error: str  # the domain error's class name: the status a synchronous answer would have had
    message: str


class Job(BaseModel):
    job_id: str
    kind: Literal["train", "sources", "retrain"]
    model_name: str
    origin: Literal["api", "schedule", "cli"]
    status: Status
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_expires_at: datetime
    progress: JobProgress = JobProgress()
    result: TrainOutcome | None = None
    failure: JobFailure | None = None
    worker: str | None = None  # where it runs: a local process id or a Lambda request id

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True)
class Held:
    """A job record and the etag a change must find."""

    job: Job
    etag: str


def now() -> datetime:
    return datetime.now(UTC)


def _job_key(job_id: str) -> str:
    return f"jobs/{job_id}/job.json"


def _request_key(job_id: str) -> str:
    return f"jobs/{job_id}/request.json"


LOCKS = "jobs/models/"


def _lock_key(model_name: str) -> str:
    return f"{LOCKS}{model_name}.json"


def _idempotency_key(model_name: str, key: str) -> str:
    """Scoped by the model: callers of other models (other keys' scopes) never share an Idempotency-Key."""
    return f"jobs/keys/{model_name}/{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}.json"


def check_job_id(job_id: str) -> str:
    if not (
        job_id.startswith("j")
        and len(job_id) <= JOB_ID_CHARS
        and job_id[1:].replace("-", "").isalnum()
        and job_id.isascii()
    ):
        raise JobNotFound(f"no job {job_id[:JOB_ID_CHARS]!r}")
    return job_id


def _new_job_id() -> str:
    return f"j{now():%Y%m%d%H%M%S%f}-{secrets.token_hex(6)}"  # sorts by creation time (to the microsecond)


class JobStore:
    """The job records of one artifact store, and the rules for changing them."""

    def __init__(self, store: ArtifactStore, settings: Settings) -> None:
        self.store = store
        self.lease = timedelta(seconds=settings.job_lease_s)
        self.shard_lease = timedelta(seconds=settings.shard_lease_s)
        self.start_within = timedelta(seconds=settings.job_start_s)

    # -- reading ------------------------------------------------------------------------------------

    def _read(self, job_id: str) -> Held | None:
        """The job's record; None when there is none, or when it cannot be read (damaged outside the service):
        such a job is as unknown as one that never was."""
        found = self.store.get(_job_key(check_job_id(job_id)))
        if found is None:
            return None
        try:
            return Held(Job.model_validate_json(found[0]), found[1])
        except ValidationError:
            log.warning("a job record cannot be read", extra={"job_id": job_id})
            return None

    def get(self, job_id: str, visible: Callable[[str], bool] = lambda _: True) -> Job:
        """The job as it stands; one whose lease ran out is failed now. A job of a model not `visible` to the
        caller is as unknown as a job that never was (and its lease is not looked at for it)."""
        held = self._read(job_id)
        if held is None or not visible(held.job.model_name):
            raise JobNotFound(f"no job {job_id!r}")
        return self._expire(held).job

    def request(self, job_id: str) -> JobRequest:
        found = self.store.get(_request_key(check_job_id(job_id)))
        if found is None:
            raise JobNotFound(f"job {job_id!r} has no request")
        return JobRequest.model_validate_json(found[0])

    def recent(self, limit: int = 50, model_name: str | None = None) -> list[Job]:
        """The newest jobs first (job ids sort by creation time)."""
        ids = sorted({k.split("/")[1] for k in self.store.keys("jobs/j") if k.endswith("/job.json")}, reverse=True)
        jobs = []
        for job_id in ids:
            try:
                job = self.get(job_id)
            except (JobNotFound, ValidationError):
                continue
            if model_name is None or job.model_name == model_name:
                jobs.append(job)
            if len(jobs) >= limit:
                break
        return jobs

    def held_models(self) -> list[str]:
        """Models a job holds or last held: a job may be training one that has no version yet."""
        return [k[len(LOCKS) : -len(".json")] for k in self.store.keys(LOCKS) if k.endswith(".json")]

    def active_for(self, model_name: str) -> Job | None:
        found = self.store.get(_lock_key(model_name))
        if found is None:
            return None
        try:
            job = self.get(Lock.model_validate_json(found[0]).job_id)
        except (JobNotFound, ValidationError):
            return None
        return job if job.active else None

    # -- changing -----------------------------------------------------------------------------------

    def _write(self, held: Held, **changes: object) -> Held:
        """Apply changes with a conditional write; ConcurrentUpdate when someone else changed the job first."""
        job = held.job.model_copy(update={**changes, "updated_at": now()})
        return Held(job, self.store.put_if(_job_key(job.job_id), job.model_dump_json().encode(), held.etag))

    def _expire(self, held: Held) -> Held:
        job = held.job
        if not job.active or now() <= job.lease_expires_at:
            return held
        reason = (
            "the worker never started this job"
            if job.status == "queued"
            else f"the worker stopped renewing its lease, which ran out at {job.lease_expires_at:%H:%M:%S} UTC "
            "(killed, crashed or out of time); the previous version keeps serving, and the model can be trained again"
        )
        failure = JobFailure(error="TrainingFailed", message=reason)
        try:
            return self._failed(held, failure)
        except ConcurrentUpdate:  # the worker (or another reader) changed it meanwhile: read it again
            fresh = self._read(job.job_id)
            return self._expire(fresh) if fresh and fresh.etag != held.etag else held

    def _failed(self, held: Held, failure: JobFailure) -> Held:
        progress = held.job.progress.model_copy(update={"stage": "failed"})
        return self._write(held, status="failed", finished_at=now(), failure=failure, progress=progress)

    def start(self, request: JobRequest, idempotency_key: str | None = None) -> tuple[Job, bool]:
        """A new queued job for the request, or the one already training the model for the same request (then
        False); another request for a model in training is a ConcurrentUpdate.

        With an Idempotency-Key, a retried request gets the job its first attempt was answered with.
        """
        if idempotency_key is not None:
            earlier = self._by_idempotency_key(idempotency_key, request)
            if earlier is not None:
                return earlier, False
        job, created = self._start(request)
        if idempotency_key is not None:
            record = KeyRecord(job_id=job.job_id, fingerprint=request.fingerprint())
            try:
                key = _idempotency_key(request.model_name, idempotency_key)
                self.store.put_if(key, record.model_dump_json().encode(), None)
            except ConcurrentUpdate:  # the same key, racing itself: the first record stands
                log.info("an Idempotency-Key was recorded twice", extra={"job_id": job.job_id})
        return job, created

    def _start(self, request: JobRequest) -> tuple[Job, bool]:
        for _ in range(LOCK_ATTEMPTS):
            lock = self.store.get(_lock_key(request.model_name))
            running = self.active_for(request.model_name) if lock else None
            if running is not None:
                return self._same_as(running, request), False
            job = self._create(request)
            try:
                holder = Lock(job_id=job.job_id).model_dump_json().encode()
                self.store.put_if(_lock_key(request.model_name), holder, lock[1] if lock else None)
            except ConcurrentUpdate:  # another request took the model first: answer with its job
                self.store.delete([_job_key(job.job_id), _request_key(job.job_id)])
                continue
            return job, True
        raise ConcurrentUpdate(f"model {request.model_name!r} is being trained by requests racing each other; retry")

    def _same_as(self, running: Job, request: JobRequest) -> Job:
        """The running job, when it was started by this very request; another request for the model is refused,
        never answered with a job that will not do what it asked."""
        if self.request(running.job_id).fingerprint() != request.fingerprint():
            raise ConcurrentUpdate(
                f"model {request.model_name!r} is training from another request (job {running.job_id}, "
                f"{running.status}); this request was not started: send it again when that job has finished"
            )
        return running

    def forget_keys(self, model_name: str) -> None:
        """Forget the Idempotency-Keys of a deleted model: a retried request then trains it again, where it
        was answered with the deleted model's old job."""
        folder = f"jobs/keys/{model_name}/"
        self.store.delete(self.store.keys(folder))
        self.store.tidy(folder)

    def _by_idempotency_key(self, key: str, request: JobRequest) -> Job | None:
        if not key or len(key) > 255:
            raise InvalidRequest("Idempotency-Key must be 1-255 characters")
        found = self.store.get(_idempotency_key(request.model_name, key))
        if found is None:
            return None
        record = KeyRecord.model_validate_json(found[0])
        if record.fingerprint != request.fingerprint():
            raise IdempotencyMismatch("this Idempotency-Key was used for a different request")
        try:
            return self.get(record.job_id)
        except JobNotFound:  # its job is gone (expired, or its record damaged): the key starts afresh
            self.store.delete([_idempotency_key(request.model_name, key)])
            return None

    def _create(self, request: JobRequest) -> Job:
        created = now()
        job = Job(
            job_id=_new_job_id(),
            kind=request.kind,
            model_name=request.model_name,
            origin=request.origin,
            status="queued",
            created_at=created,
            updated_at=created,
            lease_expires_at=created + self.start_within,
        )
        self.store.put_if(_request_key(job.job_id), request.model_dump_json().encode(), None)
        self.store.put_if(_job_key(job.job_id), job.model_dump_json().encode(), None)
        return job

    def claim(self, job_id: str, worker: str) -> Held | None:
        """Move a queued job to running for this worker; None when it is not (or no longer) queued."""
        held = self._read(job_id)
        if held is None:
            return None
        held = self._expire(held)
        if held.job.status != "queued":
            return None
        started = now()
        try:
            progress = held.job.progress.model_copy(update={"stage": "starting"})  # until the worker's first report
            return self._write(
                held,
                status="running",
                started_at=started,
                lease_expires_at=started + self.lease,
                worker=worker,
                progress=progress,
            )
        except ConcurrentUpdate:  # another worker claimed it (a duplicated invocation)
            return None

    def renew(self, held: Held, progress: JobProgress) -> Held:
        """The heartbeat: progress, and the lease pushed forward. ConcurrentUpdate when the job was taken away."""
        return self._write(held, progress=progress, lease_expires_at=now() + self.lease)

    def finish(
        self, held: Held, progress: JobProgress, result: TrainOutcome | None = None, failure: JobFailure | None = None
    ) -> Held:
        status: Status = "succeeded" if failure is None else "failed"
        progress = progress.model_copy(update={"stage": status})
        return self._write(held, status=status, finished_at=now(), progress=progress, result=result, failure=failure)

    def hand_over(self, held: Held, progress: JobProgress, worker: str | None = None) -> Held:
        """The worker gives a sharded job to its steps: the longer lease, and where it runs now."""
        changes: dict[str, object] = {"progress": progress, "lease_expires_at": now() + self.shard_lease}
        return self._write(held, **changes, **({"worker": worker} if worker else {}))

    def change(self, job_id: str, update: Callable[[Job], dict[str, object] | None]) -> Job:
        """Apply `update(job)` (the changes, or None for none) to the active job, reading it again when
        another writer came first; JobLost when the job is no longer active."""
        for attempt in range(CHANGE_ATTEMPTS):
            held = self._read(job_id)
            if held is None or not (held := self._expire(held)).job.active:
                raise JobLost(job_id)
            changes = update(held.job)
            if not changes:
                return held.job
            try:
                return self._write(held, **changes).job
            except ConcurrentUpdate:
                time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # noqa: S311 (spreads the writers out)
        raise ConcurrentUpdate(f"job {job_id} kept changing; retry")

    def renew_shards(self, job_id: str, progress: Callable[[JobProgress], JobProgress] | None = None) -> Job:
        """A step's renewal of a sharded job: the lease when half of it has gone (or with new progress)."""

        def update(job: Job) -> dict[str, object] | None:
            if progress is None and job.lease_expires_at - now() > self.shard_lease / 2:
                return None
            changes: dict[str, object] = {"lease_expires_at": now() + self.shard_lease}
            return changes | ({"progress": progress(job.progress)} if progress else {})

        return self.change(job_id, update)

    def succeed(self, job_id: str, result: TrainOutcome) -> Job:
        """A sharded job's end, recorded by its last step."""

        def update(job: Job) -> dict[str, object]:
            progress = job.progress.model_copy(update={"stage": "succeeded"})
            return {"status": "succeeded", "finished_at": now(), "progress": progress, "result": result}

        return self.change(job_id, update)

    def fail(self, job_id: str, message: str, error: str = "TrainingFailed") -> Job:
        """Fail an active job from outside its worker (the model was deleted, the worker could not start)."""
        held = self._read(job_id)
        while held is not None and held.job.active:
            try:
                held = self._failed(held, JobFailure(error=error, message=message))
            except ConcurrentUpdate:
                held = self._read(job_id)
        if held is None:
            raise JobNotFound(f"no job {job_id!r}")
        return held.job

    def wait(self, job_id: str, seconds: float) -> Job:
        """The job once it has finished, or as it stands after `seconds`."""
        deadline = time.monotonic() + seconds
        pause = 0.05
        while True:
            job = self.get(job_id)
            left = deadline - time.monotonic()
            if not job.active or left <= 0:
                return job
            time.sleep(min(pause, left))  # polling the store for the job's end, not a wait for timing
            pause = min(pause * 2, 1.0)


def failure_of(exc: BaseException, job_id: str) -> JobFailure:
    """How an exception is recorded in a failed job: a domain error as itself, anything else as internal."""
    if isinstance(exc, CdgptError):
        return JobFailure(error=type(exc).__name__, message=str(exc))
    return JobFailure(error="internal", message=f"internal error; job {job_id} (see the worker's logs)")


class Lock(BaseModel):
    job_id: str


class KeyRecord(BaseModel):
    job_id: str
    fingerprint: str  # of the request that used the key first
