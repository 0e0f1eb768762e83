"""The training worker: runs one job, renewing its lease while it works, and records how it ended.

Started by `launch` (a Lambda invocation, a local process, a thread) or run inline by the CLI;
`python -m cdgpt.training.worker <job_id>` is the local process. A training of more than
CDGPT_SHARD_ABOVE_DOCUMENTS documents is planned here and handed over to its steps (training/sharded/):
a Step Functions execution on AWS, or the same steps run in this process.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from contextlib import suppress

from cdgpt.errors import ConcurrentUpdate
from cdgpt.ingest.workers import fork_safe
from cdgpt.models.store import ArtifactStore, default_store
from cdgpt.settings import Settings, get_settings
from cdgpt.training import pipeline
from cdgpt.training.attention import needs_attention
from cdgpt.training.jobs import (
    Held,
    Job,
    JobFailure,
    JobLost,
    JobProgress,
    JobRequest,
    JobStore,
    OutOfTime,
    failure_of,
)
from cdgpt.training.pipeline import Progress, TrainOutcome
from cdgpt.training.sharded import files, runner
from cdgpt.training.sharded.files import Plan
from cdgpt.training.sharded.plan import plan as plan_shards

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews the job's lease every few seconds with the latest progress, on a thread of its own."""

    def __init__(self, jobs: JobStore, held: Held, every_s: float) -> None:
        self.jobs, self.held, self.every_s = jobs, held, every_s
        self.progress = JobProgress(stage="starting")
        self.lost = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = fork_safe(threading.Thread(target=self._beat, name="job-heartbeat", daemon=True))

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            self.renew()

    def renew(self) -> None:
        with self._lock:
            if self.lost:
                return
            try:
                self.held = self.jobs.renew(self.held, self.progress.model_copy())
            except ConcurrentUpdate:
                self.lost = True
            except Exception:  # a failed renewal is retried at the next beat; the lease has room for it
                log.warning("could not renew the job's lease", extra={"job_id": self.held.job.job_id}, exc_info=True)

    def hand_over(self, progress: JobProgress, worker: str | None) -> None:
        """Stop beating: the job's steps renew its (longer) lease from now on."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self.lost:
                raise JobLost(self.held.job.job_id)
            try:
                self.held = self.jobs.hand_over(self.held, progress, worker)
            except ConcurrentUpdate as exc:
                raise JobLost(self.held.job.job_id) from exc

    def finish(self, result: TrainOutcome | None, failure: JobFailure | None) -> Job:
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self.lost:
                raise JobLost(self.held.job.job_id)
            try:
                return self.jobs.finish(self.held, self.progress, result, failure).job
            except ConcurrentUpdate as exc:
                raise JobLost(self.held.job.job_id) from exc

    def report(self, stage: str, advance: int, total: int) -> None:
        """The training's progress callback."""
        if self.lost:
            raise JobLost(self.held.job.job_id)
        p = self.progress
        if stage == "fetching":
            p.documents_done, p.documents_total = p.documents_done + advance, total
        elif stage == "embedding":
            p.chunks_embedded, p.chunks_total = p.chunks_embedded + advance, total
        p.stage = stage


def run(
    request: JobRequest, store: ArtifactStore, settings: Settings, progress: Progress, job_id: str | None = None
) -> TrainOutcome:
    """Do what the job asks, on this worker."""
    if request.kind == "train":
        return pipeline.train(
            request.model_name,
            request.file_list,
            request.prompt,
            settings=settings,
            store=store,
            progress=progress,
            job_id=job_id,
            within=request.within,
        )
    if request.kind == "sources":
        return pipeline.update_sources(
            request.model_name,
            request.add,
            request.remove,
            settings=settings,
            store=store,
            progress=progress,
            job_id=job_id,
            within=request.within,
        )
    return pipeline.retrain(request.model_name, settings=settings, store=store, progress=progress, job_id=job_id)


def run_job(
    job_id: str,
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
    worker: str | None = None,
    deadline: float | None = None,
    progress: Progress | None = None,
) -> Job | None:
    """Claim the job, train, record the outcome; None when the job was not there to claim (already
    taken, finished, or expired before it started). `deadline` (time.monotonic) ends it cleanly.

    A large training is planned into shards and handed over: the job is returned still running when
    its steps run elsewhere (Step Functions), or once they ended when they run here."""
    settings = settings or get_settings()
    store = store or default_store(settings)
    jobs = JobStore(store, settings)
    held = jobs.claim(job_id, worker or f"pid {os.getpid()} on {socket.gethostname()}")
    if held is None:
        log.info("job not claimed", extra={"job_id": job_id})
        return None
    request = jobs.request(job_id)
    plan: Plan | None = None
    with Heartbeat(jobs, held, settings.job_heartbeat_s) as heartbeat:
        report = _reporter(heartbeat, deadline, progress)
        result: TrainOutcome | None = None
        failure: JobFailure | None = None
        try:
            plan = plan_shards(job_id, request, store, settings)
            if plan is None:
                result = run(request, store, settings, report, job_id)
            else:
                handed = JobProgress(stage="shards", documents_total=plan.documents)
                heartbeat.hand_over(handed, runner.executor(settings, job_id))
        except JobLost:
            log.warning("job taken away while training", extra={"job_id": job_id})
            if plan is not None:
                files.remove(store, job_id)
            return jobs.get(job_id)
        except Exception as exc:
            failure = failure_of(exc, job_id)
            if failure.error == "internal":
                log.exception("job failed unexpectedly", extra={"job_id": job_id})
            else:
                log.info("job failed", extra={"job_id": job_id, "error": failure.error})
            if plan is not None:
                files.remove(store, job_id)
        except KeyboardInterrupt:  # Ctrl-C on the CLI: the job fails now, not when its lease runs out
            with suppress(Exception):
                heartbeat.finish(None, JobFailure(error="TrainingFailed", message="the training was interrupted"))
                if plan is not None:
                    files.remove(store, job_id)
            raise
        if plan is None or failure is not None:
            try:
                return heartbeat.finish(result, failure)
            except JobLost:  # failed or cancelled meanwhile (its lease ran out, its model was deleted): that stands
                return jobs.get(job_id)
    return runner.start(job_id, plan, store, settings, progress)


def _reporter(heartbeat: Heartbeat, deadline: float | None, also: Progress | None) -> Progress:
    def report(stage: str, advance: int, total: int) -> None:
        heartbeat.report(stage, advance, total)
        if deadline is not None and time.monotonic() > deadline:
            raise OutOfTime(f"training ran out of time while {stage}; train fewer sources per job")
        if also:
            also(stage, advance, total)

    return report


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m cdgpt.training.worker JOB_ID", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    job = run_job(args[0])
    return 1 if needs_attention(job) else 0


if __name__ == "__main__":
    sys.exit(main())
