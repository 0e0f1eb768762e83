"""How the API answers for a training job: the original result when it finished in time, else 202."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from pydantic import StringConstraints

from cdgpt import operations
from cdgpt.api.contract import (
    JobAcceptedResponse,
    TrainResponse,
    job_accepted,
    job_error,
    train_result,
)
from cdgpt.api.original import OriginalTrainResponse
from cdgpt.api.resolver import answer_budget
from cdgpt.settings import get_settings
from cdgpt.training.pipeline import TrainOutcome

IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=255)] | None
POLL_AFTER_S = 2  # Retry-After of a 202
# the result when it finished in time (in the request's shape), or the job still running
TrainOrJob = TrainResponse | OriginalTrainResponse | JobAcceptedResponse


def train_response(outcome: TrainOutcome) -> TrainOrJob:
    return TrainResponse(data=train_result(outcome))


HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def job_url(app: APIGatewayRestResolver, job_id: str) -> str:
    """The job's absolute URL, on the host and stage the request came through: the domain API Gateway
    received it on, or else (`cdgpt serve`) its Host header."""
    event = app.current_event
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    stage_prefix = (event.request_context.path or event.path).removesuffix(event.path)
    host = event.request_context.domain_name or headers.get("host") or ""
    if not HOST.fullmatch(host):  # none, or a Host header that names no host: the path alone
        return f"{stage_prefix}/jobs/{job_id}"
    scheme = "http" if headers.get("x-forwarded-proto") == "http" else "https"
    return f"{scheme}://{host}{stage_prefix}/jobs/{job_id}"


def _wait_budget(app: APIGatewayRestResolver, asked: float | None) -> float:
    wait = get_settings().train_wait_s if asked is None else asked
    left = answer_budget(app.lambda_context)
    return wait if left is None else min(wait, left)


def answer_job(
    app: APIGatewayRestResolver,
    started: operations.Started,
    wait_seconds: float | None,
    respond: Callable[[TrainOutcome], TrainOrJob] = train_response,
) -> Response[TrainOrJob]:
    """Wait for the job up to the budget: 200 with the result (`respond` shapes it), the job's error, or 202."""
    job = started.job
    budget = _wait_budget(app, wait_seconds)
    if job.active and budget > 0:
        job = operations.wait_for(job.job_id, budget)
    if job.status == "succeeded" and job.result is not None:
        return _reply(200, respond(job.result))
    if job.status == "failed":
        raise job_error(job)
    url = job_url(app, job.job_id)
    return _reply(
        202, JobAcceptedResponse(data=job_accepted(job, url)), {"Location": url, "Retry-After": str(POLL_AFTER_S)}
    )


def _reply(status: int, body: TrainOrJob, headers: dict[str, str] | None = None) -> Response[TrainOrJob]:
    return Response(status, content_types.APPLICATION_JSON, body, headers=headers)
