"""Where a planned sharded training runs: a Step Functions execution (CDGPT_STATE_MACHINE, on AWS), or
this process, CDGPT_SHARD_CONCURRENCY shards at a time on threads and then the merge. Both call the same
step functions in the same order, and take the same failure path when a step fails."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor, as_completed

from cdgpt.errors import UpstreamError
from cdgpt.models.store import ArtifactStore
from cdgpt.settings import Settings
from cdgpt.training.jobs import Job, JobStore, failure_of
from cdgpt.training.pipeline import Progress
from cdgpt.training.sharded import files, steps
from cdgpt.training.sharded.files import Plan

log = logging.getLogger(__name__)


def execution_arn(state_machine: str, job_id: str) -> str:
    """The job's execution, named after the job (so a second start of it is the same execution)."""
    return f"{state_machine.replace(':stateMachine:', ':execution:', 1)}:{job_id}"


def executor(settings: Settings, job_id: str) -> str | None:
    """Where the job's steps run, for its record: the execution's ARN on AWS; None (this worker) here."""
    return execution_arn(settings.state_machine, job_id) if settings.state_machine else None


def execution_input(job_id: str, settings: Settings) -> dict[str, object]:
    """What the state machine starts from (template.yaml reads these paths)."""
    return {"job_id": job_id, "items_key": files.items_key(job_id), "max_concurrency": settings.shard_concurrency}


def start(job_id: str, plan: Plan, store: ArtifactStore, settings: Settings, progress: Progress | None = None) -> Job:
    """Run the steps of a job its worker has handed over: the job as it stands once they were started
    (Step Functions) or once they ended (here)."""
    if not settings.state_machine:
        return run_here(job_id, plan, store, settings, progress)
    try:
        _start_execution(job_id, settings)
    except UpstreamError as exc:
        files.write_error(store, job_id, "start", failure_of(exc, job_id))
        return steps.fail(job_id, store=store, settings=settings)
    return JobStore(store, settings).get(job_id)


def _start_execution(job_id: str, settings: Settings) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from cdgpt.clients import sfn_client

    try:
        sfn_client().start_execution(
            stateMachineArn=settings.state_machine or "",
            name=job_id,
            input=json.dumps(execution_input(job_id, settings)),
        )
    except (BotoCoreError, ClientError) as exc:
        raise UpstreamError(f"could not start the sharded training: {type(exc).__name__}") from exc


def run_here(
    job_id: str, plan: Plan, store: ArtifactStore, settings: Settings, progress: Progress | None = None
) -> Job:
    """Every shard's `work` on a bounded pool of threads, then `merge`; `fail` when a step fails (the
    shards not yet started are not started)."""
    try:
        with ThreadPoolExecutor(max_workers=settings.shard_concurrency, thread_name_prefix=f"{job_id}-shard") as pool:
            pending = [pool.submit(steps.work, job_id, n, store=store, settings=settings) for n in range(plan.shards)]
            try:
                for done in as_completed(pending):
                    done.result()
                    if progress:
                        progress("shards", 1, plan.shards)
            finally:
                for future in pending:
                    future.cancel()
        return steps.merge(job_id, store=store, settings=settings, progress=progress)
    except Exception:  # the step recorded why; the failure path reports it
        log.info("a step of a sharded training failed", extra={"job_id": job_id})
        return steps.fail(job_id, store=store, settings=settings)
