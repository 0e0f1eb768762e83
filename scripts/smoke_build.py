"""Run the built Lambda artifacts (.aws-sam/build) as Lambda would: only the function folder, its
layers and the runtime's boto3 on the path. The worker runs a training job of the sample handbook,
the train function trains it again through the API, and the chat function answers from it (in English,
and in Chinese: the dictionary is read from the App layer); then a sharded training's steps run through
the shard and merge functions, as the state machine calls them.

Usage: python scripts/smoke_build.py .aws-sam/build
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

RUNTIME_PACKAGES = ["boto3", "botocore", "s3transfer", "dateutil", "six.py", "jmespath"]  # in python3.12's image

PROBE = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
import importlib.util

def handler(folder):
    spec = importlib.util.spec_from_file_location(folder.split("/")[-1], folder + "/app.py")
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module.lambda_handler

def event(path, body):
    return {"httpMethod": "POST", "path": path, "resource": path, "body": json.dumps(body),
            "headers": {"Authorization": "Bearer smoke", "Content-Type": "application/json"},
            "requestContext": {"requestId": "smoke", "stage": "smoke"}}

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "smoke", 1024, "smoke"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:smoke"

    def get_remaining_time_in_millis(self):
        return 600_000

train, worker, chat = handler(sys.argv[2]), handler(sys.argv[3]), handler(sys.argv[4])
from cdgpt import operations
from cdgpt.training.jobs import JobRequest
job = operations.start_job(JobRequest(kind="train", model_name="smoke", file_list=["handbook"]), run=False).job
ran = worker({"job_id": job.job_id}, Context())
trained = train(event("/train", {"model_name": "smoke", "file_list": ["handbook"]}), Context())
answered = chat(event("/chat", {"model_name": "smoke", "question": "What is the helpdesk extension?"}), Context())
chinese = chat(event("/chat", {"model_name": "smoke", "question": "怎么申请年假？"}), Context())  # reads the dictionary

import os
from cdgpt.clients import reset_clients
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings
from cdgpt.training.jobs import JobProgress, JobStore
from cdgpt.training.sharded.plan import plan
os.environ.update(CDGPT_SHARD_ABOVE_DOCUMENTS="1", CDGPT_SHARD_DOCUMENTS="4")
reset_clients()
shard, merge = handler(sys.argv[5]), handler(sys.argv[6])
request = JobRequest(kind="train", model_name="sharded", file_list=["handbook"])
job = operations.start_job(request, run=False).job
jobs = JobStore(default_store(get_settings()), get_settings())
held = jobs.claim(job.job_id, "smoke")
planned = plan(job.job_id, request, jobs.store, get_settings())
jobs.hand_over(held, JobProgress(stage="shards", documents_total=planned.documents))
for n in range(planned.shards):
    shard({"step": "work", "job_id": job.job_id, "shard": n}, Context())
merged = merge({"step": "merge", "job_id": job.job_id}, Context())
print(json.dumps({"worker": ran["status"], "train": trained["statusCode"], "chat": answered["statusCode"],
                  "chinese": [s["source"] for s in json.loads(chinese["body"])["data"]["sources"]][:1]
                  if chinese["statusCode"] == 200 else [],
                  "sharded": merged["status"], "body": json.loads(answered["body"])}))
"""


def main(build: Path) -> int:
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Path(tmp, "runtime")
        runtime.mkdir()
        for name in RUNTIME_PACKAGES:
            (runtime / name).symlink_to(site / name)
        paths = [str(build / "AppLayer/python"), str(build / "FaissLayer/python"), str(runtime)]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "API_SECRET": "smoke",
            "CDGPT_DATA_DIR": str(Path(tmp, "data")),
            "CDGPT_SOURCE_ROOT": str(Path(__file__).resolve().parents[1] / "samples"),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Smoke",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        command = [
            sys.executable,
            "-I",
            "-S",
            "-c",
            PROBE,
            json.dumps(paths),
            str(build / "TrainFunction"),
            str(build / "TrainWorkerFunction"),
            str(build / "ChatFunction"),
            str(build / "TrainShardFunction"),
            str(build / "TrainMergeFunction"),
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    result = next((json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"worker"')), None)
    outcome = result and (
        result["worker"],
        result["train"],
        result["chat"],
        result["chinese"] == ["handbook/shanghai-office-guide-zh.md"],
        result["sharded"],
    )
    if done.returncode or outcome != ("succeeded", 200, 200, True, "succeeded"):
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
        print("smoke test of the built functions FAILED", file=sys.stderr)
        return 1
    answer = result["body"]["data"]["answer"][:80]
    print(
        f"built functions work: worker job succeeded, train 200, chat 200, answer starts {answer!r}; a Chinese "
        "question (the dictionary read from the App layer) found the Shanghai guide; "
        "sharded training through the shard and merge functions succeeded"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build").resolve()))
