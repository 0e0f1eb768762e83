"""The steps of a sharded training, as the state machine invokes them (template.yaml):
`{"step": "work", "job_id", "shard"}`, `{"step": "merge", "job_id"}`, `{"step": "fail", "job_id", "error"}`.

A step that fails raises, so the state machine retries it or takes the failure path.
"""

import json
import time

from aws_lambda_powertools.utilities.typing import LambdaContext

from cdgpt.api.metering import publish_usage
from cdgpt.api.resolver import logger, metrics, tracer
from cdgpt.clients import sqs_client
from cdgpt.settings import get_settings
from cdgpt.training.sharded.steps import handle
from cdgpt.usage import Usage

FINISH_MARGIN_S = 30  # stop a step this long before the function's timeout, to record why


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    logger.append_keys(job_id=str(event.get("job_id", "")), step=str(event.get("step", "")))
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - FINISH_MARGIN_S
    output = handle(event, deadline)
    if isinstance(used := output.pop("usage", None), Usage):  # a merge that ended its job: the training's tokens
        publish_usage(str(output["model_name"]), used)
    if attention := output.pop("attention", None):  # as the worker's failed invocations do, into the queue
        tell(str(attention), str(output["job_id"]))
    return output


def tell(attention: str, job_id: str) -> None:
    """The dead-letter queue (and its alarm) hears of a finished job somebody must look at; the merge is done
    and published whatever this does, so a failure to send is logged, not raised (a retry would not help)."""
    queue = get_settings().attention_queue
    logger.warning("a finished training needs attention", extra={"attention": attention})
    if queue:
        try:
            sqs_client().send_message(
                QueueUrl=queue, MessageBody=json.dumps({"job_id": job_id, "attention": attention})
            )
        except Exception:
            logger.exception("could not send the attention message")
