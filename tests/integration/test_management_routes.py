"""The training-job and model-management routes through the Lambda handler, on moto (S3), with the
events API Gateway sends: 200 with the original result or 202 with the job, job status, listing,
details, deletion and sources."""

from __future__ import annotations

import json

import pytest

from cdgpt import operations
from tests.support.lambda_events import (  # noqa: F401
    SOURCES,
    api_secret,
    aws,
    chat,
    envelope,
    event,
    management,
    moto_aws,
    train,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
STATUS_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/Prod/jobs/"
LEAVE = f"s3://{SOURCES}/handbook/leave-and-holidays.md"
REMOTE = f"s3://{SOURCES}/handbook/remote-work.md"


def train_body(headers: dict[str, str] | None = None, **fields) -> dict:
    body = {"model_name": "handbook", "file_list": [f"s3://{SOURCES}/handbook/"], **fields}
    return event("train", body=body, headers=headers)


@pytest.mark.parametrize(
    ("host", "url"),
    [("localhost:3000", "https://localhost:3000/Prod/jobs/"), ('a"b<x>/y?z', "/Prod/jobs/"), ("", "/Prod/jobs/")],
    ids=["host", "not-a-host", "none"],
)
def test_without_a_domain_the_job_url_is_on_its_host_header_when_it_names_one(api_secret, aws, host, url):
    evt = train_body({"Host": host or None}, wait_seconds=0)  # as `cdgpt serve` sends it: no domain name
    del evt["requestContext"]["domainName"]
    job = envelope_202(train(evt))["data"]
    assert job["status_url"] == url + job["job_id"]
    assert operations.wait_for(job["job_id"], 60).status == "succeeded"


def test_an_idempotency_key_sent_twice_is_422(api_secret, aws):
    evt = train_body({"Idempotency-Key": "abc"})
    evt["multiValueHeaders"]["Idempotency-Key"] = ["abc", "def"]
    assert envelope(train(evt), 422)["msg"] == "idempotency-key: send this header once"


def test_a_training_that_does_not_finish_in_time_answers_202_with_its_job(api_secret, aws):
    # the job's URL is on the domain API Gateway received the request on, whatever Host the client sent
    result = train(train_body({"Host": "attacker.example"}, wait_seconds=0))
    body = envelope_202(result)
    job = body["data"]
    assert list(job) == ["job_id", "status", "status_url", "model_name"]
    assert job["status"] in ("queued", "running") and job["model_name"] == "handbook"
    assert job["status_url"] == STATUS_URL + job["job_id"]
    assert result["multiValueHeaders"]["Location"] == [job["status_url"]]
    finished = operations.wait_for(job["job_id"], 60)
    assert finished.status == "succeeded"
    view = envelope(management("GET", "/jobs/{job_id}", {"job_id": job["job_id"]}), 200)["data"]
    assert view["status"] == "succeeded" and view["error"] is None
    assert view["result"]["model_name"] == "handbook" and view["result"]["size_type"] == "kb"
    assert view["progress"]["documents_done"] == view["progress"]["documents_total"] == 9
    assert view["progress"]["chunks_total"] == view["result"]["chunks"]
    assert view["started_at"] <= view["finished_at"]


def envelope_202(result: dict) -> dict:
    assert result["statusCode"] == 202, result
    body = json.loads(result["body"])
    assert list(body) == ["code", "msg", "data"] and body["code"] == 0 and body["msg"] == "accepted"
    return body


def test_a_request_for_a_model_in_training_gets_the_running_job(api_secret, aws):
    first = envelope_202(train(train_body(wait_seconds=0)))["data"]
    again = train(train_body(wait_seconds=0))
    if again["statusCode"] == 202:
        assert envelope_202(again)["data"]["job_id"] == first["job_id"]
    else:  # it finished meanwhile, and this request started a new training
        assert envelope(again, 200)["data"]["version"] == 2
    operations.wait_for(first["job_id"], 60)


def test_an_idempotency_key_makes_a_retry_return_the_same_job(api_secret, aws):
    keyed = train_body({"Idempotency-Key": "client-retry-1"}, wait_seconds=0)
    first = envelope_202(train(keyed))["data"]
    operations.wait_for(first["job_id"], 60)
    retried = envelope(train(keyed), 200)["data"]  # the same job, finished: its original result
    assert retried["version"] == 1
    changed = json.loads(keyed["body"])
    keyed["body"] = json.dumps({**changed, "file_list": [LEAVE]})
    assert "different request" in envelope(train(keyed), 422)["msg"]


def test_an_unknown_job_is_404(api_secret, aws):
    for job_id in ("j20260101000000000000-000000000000", "..%2Fmodels"):
        assert envelope(management("GET", "/jobs/{job_id}", {"job_id": job_id}), 404)["msg"].startswith("no job")


def test_models_are_listed_described_and_deleted(api_secret, aws):
    assert envelope(management("GET", "/models"), 200)["data"] == {"models": []}
    envelope(train(), 200)
    [listed] = envelope(management("GET", "/models"), 200)["data"]["models"]
    assert listed["model_name"] == "handbook" and listed["status"] == "ready" and listed["version"] == 1
    assert listed["documents"] == 9 and listed["embedding"]["provider"] == "local"
    detail = envelope(management("GET", "/models/{model_name}", {"model_name": "handbook"}), 200)["data"]
    assert detail["sources"][0]["entry"] == f"s3://{SOURCES}/handbook/" and detail["sources"][0]["status"] == "ok"
    assert len(detail["sources"][0]["documents"]) == 9 and detail["sizes"]["index"] > 0
    deleted = envelope(management("DELETE", "/models/{model_name}", {"model_name": "handbook"}), 200)["data"]
    assert deleted["model_name"] == "handbook" and deleted["deleted"] and deleted["files_deleted"] == 4
    assert envelope(chat(), 404)["msg"] == "model 'handbook' was deleted"
    assert envelope(management("GET", "/models/{model_name}", {"model_name": "handbook"}), 404)["msg"] == (
        "model 'handbook' was deleted"
    )
    assert envelope(management("DELETE", "/models/{model_name}", {"model_name": "handbook"}), 404)
    assert envelope(management("GET", "/models"), 200)["data"] == {"models": []}


def test_sources_are_added_and_removed_through_the_api(api_secret, aws):
    envelope(train(event("train", body={"model_name": "handbook", "file_list": [LEAVE]})), 200)
    added = envelope(
        management("POST", "/models/{model_name}/sources", {"model_name": "handbook"}, {"add": [REMOTE]}), 200
    )
    assert added["data"]["version"] == 2 and [s["entry"] for s in added["data"]["sources"]] == [LEAVE, REMOTE]
    assert 0 < added["data"]["chunks_embedded"] < added["data"]["chunks"]
    removed = envelope(
        management("POST", "/models/{model_name}/sources", {"model_name": "handbook"}, {"remove": [LEAVE]}), 200
    )
    assert removed["data"]["chunks_embedded"] == 0 and [s["entry"] for s in removed["data"]["sources"]] == [REMOTE]
    unknown = management("POST", "/models/{model_name}/sources", {"model_name": "handbook"}, {"remove": [LEAVE]})
    assert "not a source of model" in envelope(unknown, 400)["msg"]
    missing = management("POST", "/models/{model_name}/sources", {"model_name": "nobody"}, {"add": [LEAVE]})
    assert envelope(missing, 404)["msg"] == "model 'nobody' has not been trained"
    nothing = management("POST", "/models/{model_name}/sources", {"model_name": "handbook"}, {})  # as other fields
    assert envelope(nothing, 422)["msg"] == "body: Value error, give sources to add or to remove"


@pytest.mark.parametrize("name", ["..", "a" * 65, "-x", "a/b"])
def test_invalid_model_names_in_the_path_are_refused(api_secret, aws, name):
    result = management("GET", "/models/{model_name}", {"model_name": name})
    assert result["statusCode"] in (404, 422), result
