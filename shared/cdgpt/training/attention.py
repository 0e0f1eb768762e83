"""Which finished jobs somebody must hear about: they go to the dead-letter queue and its alarm."""

from __future__ import annotations

from cdgpt.ingest.pipeline import ALREADY_INCLUDED
from cdgpt.ingest.sources.entries import entry_label
from cdgpt.training.jobs import Job


def needs_attention(job: Job | None) -> str | None:
    """Why a finished job should reach the dead-letter destination, if it should: a scheduled job that failed,
    or that published with a source failing, documents of the version before dropped, or documents kept as
    they were because they could not be fetched (nobody is waiting for its status: a site down at night must
    not leave the model older or smaller unseen); or any job that failed unexpectedly. A document skipped
    version after version (an empty file) is no news: it raises nothing."""
    if job is None:
        return None
    if job.failure is not None:
        unseen = job.origin == "schedule" or job.failure.error == "internal"
        return f"job {job.job_id} for model {job.model_name} failed: {job.failure.message}" if unseen else None
    result = job.result
    if job.origin != "schedule" or result is None:
        return None
    failed = [r for r in result.sources if r.status == "failed"]
    if not (failed or result.documents_dropped or result.documents_kept):
        return None
    noted = [r for r in result.sources if r.status == "failed" or (r.reason and r.reason != ALREADY_INCLUDED)]
    first = f"; first: {entry_label(noted[0].entry)}: {noted[0].reason}" if noted else ""
    return (
        f"job {job.job_id} published model {job.model_name} with {len(failed)} sources failing, "
        f"{result.documents_dropped} documents dropped and {result.documents_kept} kept as they were{first}"
    )
