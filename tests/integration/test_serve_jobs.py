"""Training jobs through `cdgpt serve` (a real subprocess, each job in a worker process of its own):
a large training answers 202 at once and reports progress, a worker killed mid-training leaves a
failed job and the previous version serving, and concurrent or retried requests share one job."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from tests.support import in_threads
from tests.support.serve import AUTH, serving
from tests.support.web import LocalWeb

PAGES = 2000
PAGE = "<html><head><title>Page {n}</title></head><body><main><h1>Page {n}</h1><p>Room {n} is booked by team {n}.</p></main></body></html>"
# A lease short enough that a killed worker's job fails within the test, but long enough that a worker on
# a loaded machine (the suite beside other work) starts and keeps renewing it: at 6 s a job was once failed
# as never started while its worker was still importing.
JOB_ENV = {"CDGPT_ALLOW_PRIVATE_URLS": "1", "CDGPT_JOB_LEASE_SECONDS": "20", "CDGPT_JOB_HEARTBEAT_SECONDS": "0.5"}


@pytest.fixture(scope="module")
def web():
    with LocalWeb() as site:
        yield site


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("jobs"), env=JOB_ENV) as served:
        yield served


def poll(server, job_id: str, until, deadline_s: float = 120) -> dict:
    """GET the job until `until(job)` holds (polling for a state, not waiting for time to pass)."""
    deadline = time.monotonic() + deadline_s
    while True:
        response = server.request("GET", f"/jobs/{job_id}", headers=AUTH)
        assert response.status_code == 200, response.text
        job = response.json()["data"]
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_a_large_training_answers_202_at_once_then_progresses_and_succeeds(server, web):
    urls = [web.add(f"/big/{n}.html", PAGE.format(n=n)) for n in range(PAGES)]
    response = server.post("/train", json={"model_name": "big", "file_list": urls, "wait_seconds": 0})
    assert response.status_code == 202, response.text
    accepted = response.json()["data"]
    assert accepted["status_url"] == f"{server.url}/jobs/{accepted['job_id']}"
    assert response.headers["Location"] == accepted["status_url"]
    midway = poll(server, accepted["job_id"], lambda j: j["progress"]["documents_done"] > 0 or j["finished_at"])
    assert midway["status"] in ("running", "succeeded"), midway.get("error")
    assert midway["progress"]["documents_total"] == PAGES
    done = poll(server, accepted["job_id"], lambda j: j["status"] in ("succeeded", "failed"))
    assert done["status"] == "succeeded", done.get("error")
    assert done["result"]["documents"] == PAGES and done["progress"]["documents_done"] == PAGES
    answer = server.post("/chat", json={"model_name": "big", "question": "Who books room 1234?"}).json()["data"]
    assert answer["sources"][0]["source"] == f"{web.base}/big/1234.html"


def test_a_small_training_still_returns_the_original_result(server):
    response = server.post("/train", json={"model_name": "handbook", "file_list": ["samples/handbook"]})
    assert response.status_code == 200 and response.json()["data"]["version"] >= 1


def worker_pid(server, job_id: str) -> int:
    record = json.loads((server.data_dir / "jobs" / job_id / "job.json").read_text())
    return int(record["worker"].split()[1])  # "pid 1234 on host"


def test_a_worker_killed_mid_training_leaves_a_failed_job_and_the_previous_version(server, web):
    # Given a model with a version, and a retraining stuck on a slow page
    first = [web.add(f"/kill/{n}.html", PAGE.format(n=n)) for n in range(5)]
    assert server.post("/train", json={"model_name": "killed", "file_list": first}).status_code == 200
    gate = threading.Event()
    slow = web.add("/kill/slow.html", PAGE.format(n=99))
    web.routes["/kill/slow.html"].gate = gate
    started = server.post("/train", json={"model_name": "killed", "file_list": [*first, slow], "wait_seconds": 0})
    job_id = started.json()["data"]["job_id"]
    running = poll(server, job_id, lambda j: j["status"] == "running" and j["progress"]["documents_done"] >= 5)
    assert running["status"] == "running"
    # When its worker is killed
    os.kill(worker_pid(server, job_id), signal.SIGKILL)
    gate.set()
    # Then the job fails once its lease runs out, the previous version serves, and the model retrains
    failed = poll(server, job_id, lambda j: j["status"] == "failed", deadline_s=30)
    assert failed["status"] == "failed" and "stopped renewing its lease" in failed["error"]
    chat = server.post("/chat", json={"model_name": "killed", "question": "Who books room 3?"}).json()["data"]
    assert chat["model_version"] == 1
    again = server.post("/train", json={"model_name": "killed", "file_list": [*first, slow]})
    assert again.status_code == 200 and again.json()["data"]["version"] == 2


def test_concurrent_requests_for_one_model_share_one_job_and_a_retry_gets_it_again(server, web):
    gate = threading.Event()
    slow = web.add("/race/slow.html", PAGE.format(n=7))
    web.routes["/race/slow.html"].gate = gate
    body = {"model_name": "race", "file_list": [slow], "wait_seconds": 0}
    answers: list = []

    def ask() -> None:
        answers.append(server.post("/train", json=body, headers={"Idempotency-Key": f"client-{len(answers)}"}))

    in_threads(4, lambda _: ask())
    assert [a.status_code for a in answers] == [202] * 4
    assert len({a.json()["data"]["job_id"] for a in answers}) == 1
    job_id = answers[0].json()["data"]["job_id"]
    # a retried request (same Idempotency-Key) gets that job again, running or finished
    retried = server.post("/train", json=body, headers={"Idempotency-Key": "client-0"})
    assert retried.status_code == 202 and retried.json()["data"]["job_id"] == job_id
    gate.set()
    assert poll(server, job_id, lambda j: j["status"] == "succeeded")["status"] == "succeeded"
    again = server.post("/train", json=body, headers={"Idempotency-Key": "client-0"})
    assert again.status_code == 200 and again.json()["data"]["model_name"] == "race"


def test_models_are_listed_described_given_sources_and_deleted_over_http(server):
    assert (
        server.post("/train", json={"model_name": "ops", "file_list": ["samples/handbook/benefits.txt"]}).status_code
        == 200
    )
    listed = server.request("GET", "/models", headers=AUTH).json()["data"]["models"]
    assert "ops" in [m["model_name"] for m in listed]
    added = server.post("/models/ops/sources", json={"add": ["samples/handbook/remote-work.md"]})
    assert added.status_code == 200 and added.json()["data"]["version"] == 2
    detail = server.request("GET", "/models/ops", headers=AUTH).json()["data"]
    assert [s["entry"] for s in detail["sources"]] == [
        "samples/handbook/benefits.txt",
        "samples/handbook/remote-work.md",
    ]
    deleted = server.request("DELETE", "/models/ops", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json()["data"]["deleted"] is True
    assert server.post("/chat", json={"model_name": "ops", "question": "Hi?"}).status_code == 404
