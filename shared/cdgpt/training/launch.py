"""How a queued job starts: an asynchronous Lambda invocation (AWS), a local process (`cdgpt serve`),
or a thread (tests, single-process setups). The CLI runs jobs inline instead."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading

from cdgpt.errors import UpstreamError
from cdgpt.settings import Settings

log = logging.getLogger(__name__)


def launch(job_id: str, settings: Settings) -> None:
    """Start the job's worker without waiting for it; UpstreamError when it cannot be started."""
    runner = settings.job_runner
    if runner == "lambda":
        _invoke_lambda(job_id, settings)
    elif runner == "process":
        _start_process(job_id)
    else:
        from cdgpt.training.worker import run_job

        threading.Thread(target=run_job, args=(job_id,), name=f"job-{job_id}", daemon=True).start()


def _invoke_lambda(job_id: str, settings: Settings) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from cdgpt.clients import lambda_client

    try:
        response = lambda_client().invoke(
            FunctionName=settings.worker_function or "",
            InvocationType="Event",  # asynchronous: Lambda queues it; failures go to the on-failure destination
            Payload=json.dumps({"job_id": job_id}).encode(),
        )
    except (BotoCoreError, ClientError) as exc:
        raise UpstreamError(f"could not start the training worker: {type(exc).__name__}") from exc
    if response.get("StatusCode") != 202:
        raise UpstreamError(f"could not start the training worker: Lambda answered {response.get('StatusCode')}")


_children: list[subprocess.Popen] = []


def _start_process(job_id: str) -> None:
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "cdgpt.training.worker", job_id],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to `cdgpt serve` does not kill trainings mid-publish
        )
    except OSError as exc:
        raise UpstreamError(f"could not start the training worker: {exc.strerror}") from exc
    _children.append(child)
    threading.Thread(target=_reap, args=(child,), daemon=True).start()


def _reap(child: subprocess.Popen) -> None:
    child.wait()
    _children.remove(child)
