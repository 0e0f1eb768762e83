"""Keys made with `cdgpt keys` (a subprocess on the server's data folder) used over HTTP against `cdgpt serve`:
scope, a rate counted across the functions' worker processes (429 with Retry-After), revocation."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support import REPO
from tests.support.serve import cdgpt_script, serving


def keys_cli(data_dir, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDGPT_", "ARTIFACTS_BUCKET", "API_SECRET"))}
    env["CDGPT_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [str(cdgpt_script()), "keys", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("keys"), env={"CDGPT_KEY_CACHE_SECONDS": "0"}) as served:
        trained = served.post("/train", json={"model_name": "hr-handbook", "file_list": ["samples/handbook"]})
        assert trained.status_code == 200, trained.text
        yield served


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_key_from_the_cli_reads_its_models_and_nothing_else(server):
    created = keys_cli(server.data_dir, "create", "--role", "chat", "--models", "hr-*", "--name", "hr bot")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("cdgpt_") and "only time it is shown" in created.stderr
    ask = {"model_name": "hr-handbook", "question": "What is the helpdesk extension?"}
    assert server.post("/chat", auth=False, headers=bearer(key), json=ask).status_code == 200
    listed = server.request("GET", "/models", headers=bearer(key)).json()["data"]["models"]
    assert [m["model_name"] for m in listed] == ["hr-handbook"]
    refused = server.post("/train", auth=False, headers=bearer(key), json={"model_name": "hr-x", "file_list": ["a"]})
    assert refused.status_code == 403 and refused.json()["code"] == 1
    other = server.post("/chat", auth=False, headers=bearer(key), json={**ask, "model_name": "finance"})
    assert other.status_code == 403


def test_a_rate_is_counted_across_the_worker_processes(server):
    key = keys_cli(server.data_dir, "create", "--role", "chat", "--models", "*", "--rate", "3").stdout.strip()
    ask = {"model_name": "hr-handbook", "question": "What is the helpdesk extension?"}
    statuses = [
        server.request("GET", "/models", headers=bearer(key)).status_code,  # the train function's worker
        server.post("/chat", auth=False, headers=bearer(key), json=ask).status_code,  # the chat function's worker
        server.request("GET", "/models/hr-handbook", headers=bearer(key)).status_code,
    ]
    assert statuses == [200, 200, 200]
    refused = server.post("/chat", auth=False, headers=bearer(key), json=ask)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = refused.json()
    assert body["code"] == 1 and body["data"] is None and "limited to 3 requests a minute" in body["msg"]
    assert server.request("GET", "/models", headers=bearer(key)).status_code == 429


def test_a_revoked_key_is_refused(server):
    key = keys_cli(server.data_dir, "create", "--role", "admin", "--models", "*").stdout.strip()
    assert server.request("GET", "/models", headers=bearer(key)).status_code == 200
    revoked = keys_cli(server.data_dir, "revoke", key.split("_")[1])
    assert revoked.returncode == 0 and revoked.stdout.startswith(f"revoked {key.split('_')[1]} at ")
    assert server.request("GET", "/models", headers=bearer(key)).status_code == 401
    listing = keys_cli(server.data_dir, "list").stdout
    assert key.split("_")[1] in listing and "revoked" in listing and key.split("_")[2] not in listing
