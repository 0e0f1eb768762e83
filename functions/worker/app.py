"""The training worker: one training job per asynchronous invocation, `{"job_id": "..."}`; a large
training is planned here and handed to the sharded training's state machine.

A failure that nobody waits for (a scheduled job, or one that published without some of its sources) or
that was unexpected is raised again after it is recorded, so Lambda sends the event to the on-failure
destination (the dead-letter queue and its alarm).
"""

import time

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cdgpt.api.metering import publish_usage
from cdgpt.api.resolver import logger, metrics, tracer
from cdgpt.training.attention import needs_attention
from cdgpt.training.worker import run_job

FINISH_MARGIN_S = 30  # stop training this long before the function's timeout, to record why


class JobFailed(RuntimeError):
    """Raised so that the invocation counts as failed and reaches the dead-letter destination."""


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    job_id = str(event.get("job_id", ""))
    logger.append_keys(job_id=job_id)
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - FINISH_MARGIN_S
    job = run_job(job_id, worker=f"lambda {context.aws_request_id}", deadline=deadline)
    if job is None:
        return {"job_id": job_id, "status": "not claimed"}
    if job.active:  # handed over to the sharded training's state machine, which ends it
        metrics.add_metric(name="JobsSharded", unit=MetricUnit.Count, value=1)
        return {"job_id": job_id, "status": job.status}
    metrics.add_metric(
        name="JobsSucceeded" if job.status == "succeeded" else "JobsFailed", unit=MetricUnit.Count, value=1
    )
    if job.result is not None:
        publish_usage(job.model_name, job.result.usage)
    if attention := needs_attention(job):
        raise JobFailed(attention)
    return {"job_id": job_id, "status": job.status}
