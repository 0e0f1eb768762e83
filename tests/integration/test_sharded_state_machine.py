"""Sharded training on AWS, on moto: the worker Lambda plans a large training and starts the state machine
declared in template.yaml; that definition is then run (tests/support/states.py) against the template's
step functions, so its Distributed Map reads the shards from S3, its retries meet idempotent steps, and
its failure path fails the job while the previous version keeps serving. The definition itself is
checked field by field and against cfn-lint's States Language schema (`sam validate --lint` does not
look inside a SAM state machine's definition)."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import boto3
import pytest
from cfnlint.api import lint

from cdgpt import operations
from cdgpt.answer.answering import chat
from cdgpt.errors import ModelNotFound
from cdgpt.local.server import _CfnLoader
from cdgpt.models.registry import read_manifest
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings
from cdgpt.training.jobs import JobRequest, JobStore, now
from cdgpt.training.pipeline import train
from cdgpt.training.sharded import files, runner
from cdgpt.training.sharded.steps import StepEvent
from tests.support import REPO, settings_with
from tests.support.lambda_events import ARTIFACTS, api_secret, aws, envelope, management, moto_aws  # noqa: F401
from tests.support.states import Execution, TaskFailed, definition_of, template_invoker

TEMPLATE = REPO / "template.yaml"
HANDBOOK = "s3://cdgpt-sources/handbook/"  # nine documents (tests/support/lambda_events.py puts them there)
RESOURCES = _CfnLoader.load(TEMPLATE.read_text())["Resources"]
MACHINE = RESOURCES["TrainStateMachine"]["Properties"]
DEFINITION = MACHINE["Definition"]

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


# -- the definition -----------------------------------------------------------------------------------


def lambda_tasks(states: dict) -> dict[str, dict]:
    found = {}
    for name, state in states.items():
        if state["Type"] == "Task":
            found[name] = state
        if state["Type"] == "Map":
            found |= lambda_tasks(state["ItemProcessor"]["States"])
    return found


def function_of(task: dict) -> str:
    """The template function a task invokes, through the definition's substitutions."""
    placeholder = task["Parameters"]["FunctionName"]
    assert placeholder.startswith("${") and placeholder.endswith("}"), placeholder
    return MACHINE["DefinitionSubstitutions"][placeholder[2:-1]].removesuffix(".Arn")


def test_the_definition_maps_the_shards_from_s3_then_merges_and_fails_the_job_on_any_failure():
    shards = DEFINITION["States"][DEFINITION["StartAt"]]
    # The Map is distributed, reads the items the plan wrote (ItemReader) from the artifacts bucket
    assert shards["Type"] == "Map" and shards["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    reader = shards["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject" and reader["ReaderConfig"]["InputType"] == "JSON"
    assert reader["Parameters"]["Bucket"] == "${ArtifactsBucket}"
    assert MACHINE["DefinitionSubstitutions"]["ArtifactsBucket"] == "ArtifactsBucket"  # !Ref: its name
    # at the keys the worker's execution input gives, and passes each item's shard with the job id
    started = runner.execution_input("j1", get_settings())
    assert started == {"job_id": "j1", "items_key": files.items_key("j1"), "max_concurrency": 2}
    assert reader["Parameters"]["Key.$"] == "$.items_key" and shards["MaxConcurrencyPath"] == "$.max_concurrency"
    assert shards["ItemSelector"] == {"job_id.$": "$.job_id", "shard.$": "$$.Map.Item.Value.shard"}
    assert shards["ResultPath"] is None and shards["Next"] == "Merge"
    # Each task invokes the steps' handler with an event the steps accept
    tasks = lambda_tasks(DEFINITION["States"])
    assert {name: function_of(task) for name, task in tasks.items()} == {
        "Work": "TrainShardFunction",
        "Merge": "TrainMergeFunction",
        "RecordFailure": "TrainShardFunction",
    }
    for function in ("TrainShardFunction", "TrainMergeFunction"):
        props = RESOURCES[function]["Properties"]
        assert (props["CodeUri"], props["Handler"], props["Timeout"]) == ("functions/steps/", "app.lambda_handler", 900)
    samples = {"$.job_id": "j1", "$.shard": 3, "$.error": {"Error": "States.Timeout", "Cause": ""}}
    for task in tasks.values():
        payload = {
            k.removesuffix(".$"): samples[v] if k.endswith(".$") else v
            for k, v in task["Parameters"]["Payload"].items()
        }
        StepEvent.model_validate(payload)
    assert tasks["Work"]["Parameters"]["Payload"]["step"] == "work" and tasks["Work"]["OutputPath"] is None
    # Throttling and Lambda's own failures are retried everywhere; S3 or the embedding server failing, in the steps
    for name, task in tasks.items():
        retried = {error for retry in task["Retry"] for error in retry["ErrorEquals"]}
        assert "States.ALL" in retried or {"Lambda.TooManyRequestsException", "Lambda.ServiceException"} <= retried, (
            name
        )
    assert all("UpstreamError" in {e for r in tasks[n]["Retry"] for e in r["ErrorEquals"]} for n in ("Work", "Merge"))
    # Any failure of the Map or the merge takes the failure path, which ends the execution failed
    for name in ("Shards", "Merge"):
        assert DEFINITION["States"][name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}
        ]
    assert DEFINITION["States"]["RecordFailure"]["Next"] == "Failed"
    assert DEFINITION["States"]["Failed"]["Type"] == "Fail"


def test_the_worker_may_start_the_state_machine_which_may_run_the_steps_and_read_the_shard_list():
    worker = RESOURCES["TrainWorkerFunction"]["Properties"]
    assert worker["Environment"]["Variables"]["CDGPT_STATE_MACHINE"] == "TrainStateMachine"
    statements = [s for p in worker["Policies"] if isinstance(p, dict) for s in p["Statement"]]
    assert {"Effect": "Allow", "Action": "states:StartExecution", "Resource": "TrainStateMachine"} in statements
    policies = MACHINE["Policies"]
    invoked = {p["LambdaInvokePolicy"]["FunctionName"] for p in policies if "LambdaInvokePolicy" in p}
    assert invoked == {"TrainShardFunction", "TrainMergeFunction"}
    statements = [s for p in policies if "Statement" in p for s in p["Statement"]]
    reads = [s for s in statements if s["Action"] == "s3:GetObject"]
    assert reads == [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "${ArtifactsBucket.Arn}/jobs/*"}]
    own = MACHINE["Name"].replace("${AWS::StackName}", "stack")
    starts = [s["Resource"] for s in statements if s["Action"] == "states:StartExecution"]
    assert [r.replace("${AWS::StackName}", "stack").endswith(f":stateMachine:{own}") for r in starts] == [True]


def states_language_errors(definition: dict) -> list[str]:
    """cfn-lint's check of a state machine definition (E3601), on a plain CloudFormation state machine."""
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    machine = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {
            "RoleArn": "arn:aws:iam::123456789012:role/training",
            "Definition": definition,
            "DefinitionSubstitutions": {"ShardFunctionArn": arn, "MergeFunctionArn": arn, "ArtifactsBucket": "b"},
        },
    }
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Training": machine}}
    return [str(match) for match in lint(json.dumps(template))]


def test_the_definition_is_valid_states_language():
    assert states_language_errors(DEFINITION) == []
    broken = copy.deepcopy(DEFINITION)
    broken["States"]["Merge"]["Next"] = "Failed"  # both Next and End: the check would see it
    assert states_language_errors(broken) != []


# -- running it on moto ---------------------------------------------------------------------------------


@pytest.fixture
def machine(aws, monkeypatch):
    """The state machine created in moto from the template's definition; trainings of more than one
    document run sharded, two documents a shard, three shards at a time."""
    definition = definition_of(TEMPLATE, "TrainStateMachine", {"ArtifactsBucket": ARTIFACTS})
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name=f"training-{len(sfn.list_state_machines()['stateMachines'])}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/training",
    )["stateMachineArn"]
    settings_with(
        monkeypatch,
        CDGPT_STATE_MACHINE=arn,
        CDGPT_SHARD_ABOVE_DOCUMENTS="1",
        CDGPT_SHARD_DOCUMENTS="2",
        CDGPT_SHARD_CONCURRENCY="3",
    )
    return arn, definition, sfn


def handed_over(model: str, file_list: list[str]) -> str:
    """Record a job and run the worker Lambda on it; the job's id."""
    job_id = operations.start_job(JobRequest(kind="train", model_name=model, file_list=file_list), run=False).job.job_id
    assert template_invoker(TEMPLATE)("TrainWorkerFunction", {"job_id": job_id}) == {
        "job_id": job_id,
        "status": "running",
    }
    return job_id


def execute(machine, job_id: str, invoke=None) -> tuple[dict, Execution]:
    """Run the definition from the input of the execution the worker started."""
    arn, definition, sfn = machine
    started = sfn.describe_execution(executionArn=runner.execution_arn(arn, job_id))
    execution = Execution(definition, invoke or template_invoker(TEMPLATE), boto3.client("s3", region_name="us-east-1"))
    return execution.run(json.loads(started["input"])), execution


def job_view(api_secret, job_id: str) -> dict:
    return envelope(management("GET", "/jobs/{job_id}", {"job_id": job_id}), 200)["data"]


def test_a_large_training_runs_on_step_functions_from_its_worker_to_a_published_version(machine, api_secret):
    # Given a training of a prefix of nine documents, handed over by its worker Lambda
    job_id = handed_over("handbook", [HANDBOOK])
    record = JobStore(default_store(get_settings()), get_settings()).get(job_id)
    assert record.worker == runner.execution_arn(machine[0], job_id)
    assert record.lease_expires_at > now() + timedelta(seconds=get_settings().shard_lease_s - 60)
    # Then GET /jobs/{id} shows it running, its documents counted
    waiting = job_view(api_secret, job_id)
    assert waiting["status"] == "running" and waiting["progress"]["stage"] == "shards"
    assert (waiting["progress"]["documents_done"], waiting["progress"]["documents_total"]) == (0, 9)
    # When Step Functions runs the execution the worker started
    outcome, execution = execute(machine, job_id)
    # Then it maps the five shards three at a time, merges, and the job has its version
    assert outcome["status"] == "SUCCEEDED", outcome
    assert execution.entered == ["Shards", *["Work"] * 5, "Merge"] and execution.concurrency == [3]
    done = job_view(api_secret, job_id)
    assert done["status"] == "succeeded" and done["result"]["version"] == 1 and done["result"]["documents"] == 9
    assert done["progress"]["documents_done"] == 9 and done["progress"]["chunks_total"] == done["result"]["chunks"]
    assert done["result"]["usage"]["embedding_model"] == "use-multilingual-v3-512"  # the shards' (none counted)
    store = default_store(get_settings())
    assert chat("handbook", "How many days of annual leave do I get?", store=store)["model_version"] == 1
    assert read_manifest(store, "handbook")[0].sources[0].documents[0]["source"].startswith(HANDBOOK)
    assert store.keys(files.prefix(job_id)) == []


def test_retried_steps_publish_one_version(machine, api_secret):
    # Given a throttled shard, and a shard and a merge whose answers are lost after they ran
    job_id = handed_over("handbook", [HANDBOOK])
    invoke, failed = template_invoker(TEMPLATE), set()

    def flaky(function: str, payload: dict):
        key = (payload["step"], payload.get("shard"))
        if key == ("work", 1) and key not in failed:
            failed.add(key)
            raise TaskFailed("Lambda.TooManyRequestsException")
        result = invoke(function, payload)
        if key in {("work", 0), ("merge", None)} and key not in failed:
            failed.add(key)
            raise TaskFailed("Lambda.ServiceException")
        return result

    # When the execution retries them
    outcome, execution = execute(machine, job_id, flaky)
    # Then it succeeds with one version, each shard counted once
    assert outcome["status"] == "SUCCEEDED", outcome
    assert sorted(execution.retried) == [
        ("Merge", "Lambda.ServiceException"),
        ("Work", "Lambda.ServiceException"),
        ("Work", "Lambda.TooManyRequestsException"),
    ]
    done = job_view(api_secret, job_id)
    assert done["status"] == "succeeded" and done["result"]["version"] == 1 and done["progress"]["documents_done"] == 9
    store = default_store(get_settings())
    assert {key.split("/")[3] for key in store.keys("models/handbook/versions/")} == {done["result"]["version_id"]}


def test_a_model_changed_meanwhile_fails_the_job_through_the_failure_path(machine, api_secret):
    # Given a sharded training handed over, and the same model trained meanwhile by another way
    job_id = handed_over("handbook", [HANDBOOK])
    store = default_store(get_settings())
    meanwhile = train("handbook", [f"{HANDBOOK}benefits.txt"], store=store)
    # When the execution runs
    outcome, execution = execute(machine, job_id)
    # Then its shards refuse to work over another version, and the failure path fails the job with why
    assert outcome == {
        "status": "FAILED",
        "error": "TrainingFailed",
        "cause": "The training job records why (GET /jobs/{job_id})",
    }
    assert execution.entered[-2:] == ["RecordFailure", "Failed"]
    failed = job_view(api_secret, job_id)
    assert failed["status"] == "failed"
    assert failed["error"] == "model 'handbook' was retrained or deleted while this training ran; retry"
    # and the version published meanwhile keeps serving; no shard file is left
    assert read_manifest(store, "handbook")[0].version_id == meanwhile.version_id
    assert store.keys(files.prefix(job_id)) == []


def test_a_step_that_dies_without_a_reason_fails_the_job_as_internal(machine, api_secret):
    job_id = handed_over("handbook", [HANDBOOK])
    invoke = template_invoker(TEMPLATE)

    def dying(function: str, payload: dict):
        if payload["step"] == "work" and payload["shard"] == 4:
            raise TaskFailed("Sandbox.Timedout", "Task timed out after 900.00 seconds")  # killed: nothing recorded
        return invoke(function, payload)

    outcome, _ = execute(machine, job_id, dying)
    assert outcome["status"] == "FAILED"
    failed = job_view(api_secret, job_id)
    assert failed["error"] == (
        f"internal error; job {job_id} (States.ExceedToleratedFailureThreshold; see the execution's history)"
    )
    store = default_store(get_settings())
    assert store.keys(files.prefix(job_id)) == [] and store.keys("models/handbook/") == []


def test_deleting_a_model_stops_its_sharded_training_which_cannot_resurrect_it(machine):
    job_id = handed_over("handbook", [HANDBOOK])
    train("handbook", [f"{HANDBOOK}benefits.txt"], store=default_store(get_settings()))  # (a version to delete)
    assert operations.delete("handbook").cancelled_job == job_id
    outcome, _ = execute(machine, job_id)
    assert outcome["status"] == "FAILED"
    job = operations.job_status(job_id)
    assert job.status == "failed" and job.failure.message == "model 'handbook' was deleted while this job ran"
    with pytest.raises(ModelNotFound):
        read_manifest(default_store(get_settings()), "handbook")
    assert default_store(get_settings()).keys(files.prefix(job_id)) == []


def test_a_small_training_on_aws_stays_on_its_worker(machine):
    job_id = operations.start_job(
        JobRequest(kind="train", model_name="one", file_list=[f"{HANDBOOK}benefits.txt"]), run=False
    ).job.job_id
    assert template_invoker(TEMPLATE)("TrainWorkerFunction", {"job_id": job_id})["status"] == "succeeded"
    assert machine[2].list_executions(stateMachineArn=machine[0])["executions"] == []


def test_a_sharded_job_whose_execution_stopped_fails_when_its_lease_runs_out(machine, monkeypatch):
    # Given a handed-over job whose execution never runs a step (stopped by hand: no failure path)
    settings_with(monkeypatch, CDGPT_SHARD_LEASE_SECONDS="0.5")
    job_id = handed_over("handbook", [HANDBOOK])
    # Then whoever reads it after its lease fails it
    failed = JobStore(default_store(get_settings()), get_settings()).wait(job_id, 30)
    assert failed.status == "failed" and "stopped renewing its lease" in failed.failure.message
    # and steps that run late stop at once: the failure path keeps that reason
    outcome, execution = execute(machine, job_id)
    assert outcome["status"] == "FAILED" and execution.entered[-1] == "Failed"
    assert operations.job_status(job_id).failure.message == failed.failure.message


def test_a_state_machine_that_cannot_be_started_fails_the_job(machine, monkeypatch):
    settings_with(monkeypatch, CDGPT_STATE_MACHINE=f"{machine[0]}-missing")
    job_id = operations.start_job(
        JobRequest(kind="train", model_name="handbook", file_list=[HANDBOOK]), run=False
    ).job.job_id
    assert template_invoker(TEMPLATE)("TrainWorkerFunction", {"job_id": job_id})["status"] == "failed"
    job = operations.job_status(job_id)
    assert job.failure.error == "UpstreamError"
    assert job.failure.message == "could not start the sharded training: StateMachineDoesNotExist"
    assert default_store(get_settings()).keys(files.prefix(job_id)) == []


def test_a_scheduled_sharded_retraining_that_dropped_a_document_tells_the_dead_letter_queue(machine, monkeypatch):
    """Its worker has handed it over and finished long before: the merge tells the queue (and its alarm)."""
    s3, sqs = boto3.client("s3", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="train-dead-letters")["QueueUrl"]
    settings_with(monkeypatch, CDGPT_ATTENTION_QUEUE=queue)
    s3.put_object(Bucket="cdgpt-sources", Key="extra/parking.md", Body=b"# Parking\n\nVisitors park on level two.\n")
    first = handed_over("handbook", [HANDBOOK, "s3://cdgpt-sources/extra/parking.md"])
    assert execute(machine, first)[0]["status"] == "SUCCEEDED"
    s3.delete_object(Bucket="cdgpt-sources", Key="extra/parking.md")
    request = JobRequest(kind="retrain", model_name="handbook", origin="schedule")
    job_id = operations.start_job(request, run=False).job.job_id
    template_invoker(TEMPLATE)("TrainWorkerFunction", {"job_id": job_id})
    assert execute(machine, job_id)[0]["status"] == "SUCCEEDED"
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    told = json.loads(message["Body"])
    assert told["job_id"] == job_id and "1 sources failing, 1 documents dropped" in told["attention"]


def test_a_scheduled_sharded_retraining_that_fails_tells_the_dead_letter_queue(machine, monkeypatch):
    """From its failure path: the execution's own failure says only that it failed, not which model or why."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="train-dead-letters")["QueueUrl"]
    settings_with(monkeypatch, CDGPT_ATTENTION_QUEUE=queue)
    assert execute(machine, handed_over("handbook", [HANDBOOK]))[0]["status"] == "SUCCEEDED"
    request = JobRequest(kind="retrain", model_name="handbook", origin="schedule")
    job_id = operations.start_job(request, run=False).job.job_id
    template_invoker(TEMPLATE)("TrainWorkerFunction", {"job_id": job_id})
    train("handbook", [f"{HANDBOOK}benefits.txt"], store=default_store(get_settings()))  # changed meanwhile
    assert execute(machine, job_id)[0]["status"] == "FAILED"
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    told = json.loads(message["Body"])
    assert told["job_id"] == job_id and "was retrained or deleted while this training ran" in told["attention"]


@pytest.mark.parametrize("function", ["TrainMergeFunction", "TrainShardFunction"])
def test_the_merge_and_the_failure_path_may_tell_the_dead_letter_queue(function):
    step = RESOURCES[function]["Properties"]
    assert step["Environment"]["Variables"]["CDGPT_ATTENTION_QUEUE"] == "TrainDeadLetterQueue"
    assert {"SQSSendMessagePolicy": {"QueueName": "TrainDeadLetterQueue.QueueName"}} in step["Policies"]
