"""Scoped API keys through the Lambda handlers on moto: every cross-model and cross-role access is a 403,
listings keep to a key's models, only salted hashes are stored, revocation, and per-key throttling on
DynamoDB (429 with Retry-After)."""

from __future__ import annotations

import json

import boto3
import pytest

from cdgpt.clients import reset_clients
from cdgpt.keys import records
from cdgpt.keys.records import create_key, revoke_key
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings
from tests.support.lambda_events import (  # noqa: F401
    ARTIFACTS,
    ROUTES,
    SECRET,
    SOURCES,
    api_secret,
    aws,
    envelope,
    invoke,
    load_handler,
    moto_aws,
    route_event,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
TABLE = "cdgpt-rate"
HR = "hr-handbook"  # trained in the matrix test
FINANCE = "finance"  # never trained: a key that may reach it gets 404 (or 422), one that may not gets 403


def call(method: str, resource: str, key: str, params: dict | None = None, body: object = None) -> dict:
    """The template's handler for the route, with `key` as the bearer token."""
    evt = route_event(method, resource, params, body)
    evt["headers"]["Authorization"] = evt["multiValueHeaders"]["Authorization"][0] = f"Bearer {key}"
    evt["multiValueHeaders"]["Authorization"] = [f"Bearer {key}"]
    return invoke(load_handler(ROUTES[method, resource]), evt, "Function")


def store():
    return default_store(get_settings())


def new_key(role: str, *models: str, rate: int | None = None) -> str:
    return create_key(store(), role, list(models), f"{role} on {','.join(models)}", rate)[1]  # type: ignore[arg-type]


@pytest.fixture
def rate_table(moto_aws, aws, monkeypatch):
    """An empty DynamoDB counter table (CDGPT_RATE_TABLE), as the stack has."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    if TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=TABLE)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "key_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "key_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("CDGPT_RATE_TABLE", TABLE)
    reset_clients()
    return client


# -- the matrix -------------------------------------------------------------------------------------

ACTIONS = {  # action -> (method, resource, path parameters, body) for a model
    "chat": lambda m: ("POST", "/chat", None, {"model_name": m, "question": "How many days of leave?"}),
    "chat-original": lambda m: ("POST", "/chat", None, {"space_name": m, "question": "Leave?", "history": []}),
    "describe": lambda m: ("GET", "/models/{model_name}", {"model_name": m}, None),
    "train": lambda m: ("POST", "/train", None, {"model_name": m, "file_list": ["no/such/file.md"]}),
    "train-original": lambda m: (
        "POST",
        "/train",
        None,
        {"space_name": m, "file_list": ["no/such/file.md"], "file_tag": "path"},
    ),
    "sources": lambda m: ("POST", "/models/{model_name}/sources", {"model_name": m}, {"add": ["no/such/file.md"]}),
    "delete": lambda m: ("DELETE", "/models/{model_name}", {"model_name": m + "-gone"}, None),
}
READ = {"chat", "chat-original", "describe", "job"}
WRITE = READ | {"train", "train-original", "sources"}
EVERYTHING = WRITE | {"delete"}
# who may do what, written out by hand: key -> {model: actions}, plus whether it may upload prompt templates
ALLOWED = {
    "chat hr-*": ({HR: READ, FINANCE: set()}, False),
    "train hr-*": ({HR: WRITE, FINANCE: set()}, False),
    "admin hr-*": ({HR: EVERYTHING, FINANCE: set()}, False),
    "chat finance": ({HR: set(), FINANCE: READ}, False),
    "train hr-handbook,finance": ({HR: WRITE, FINANCE: WRITE}, False),
    "train *": ({HR: WRITE, FINANCE: WRITE}, True),
    "API_SECRET": ({HR: EVERYTHING, FINANCE: EVERYTHING}, True),
}


def test_every_cross_model_and_cross_role_access_is_403_and_another_models_job_404(api_secret, aws):
    trained = call("POST", "/train", SECRET, body={"model_name": HR, "file_list": [f"s3://{SOURCES}/handbook/"]})
    assert envelope(trained, 200)["data"]["model_name"] == HR
    job_id = json.loads(aws.get_object(Bucket=ARTIFACTS, Key=f"jobs/models/{HR}.json")["Body"].read())["job_id"]
    keys = {label: new_key(*label.replace(",", " ").split()) for label in ALLOWED if label != "API_SECRET"}
    keys["API_SECRET"] = SECRET
    wrong = []
    for label, (allowed, may_upload) in ALLOWED.items():
        key = keys[label]
        for model, actions in allowed.items():
            for action in [*ACTIONS, "job"]:
                refused = 403
                if action == "job":
                    if model != HR:
                        continue
                    answer = call("GET", "/jobs/{job_id}", key, {"job_id": job_id})
                    status, refused = answer["statusCode"], 404  # as a job that never was: its model is not told
                    if status == 404:
                        assert json.loads(answer["body"])["msg"] == f"no job {job_id!r}"
                else:
                    method, resource, params, body = ACTIONS[action](model)
                    status = call(method, resource, key, params, body)["statusCode"]
                if (status == refused) == (action in actions):
                    wrong.append(f"{label}: {action} {model} -> {status}")
                elif action in actions and model == HR and action in READ:
                    assert status == 200, (label, action, status)  # what it may read, it reads
        status = call("POST", "/upload_prompt", key, body={"file_list": ["master.txt"]})["statusCode"]
        if (status == 403) == may_upload:
            wrong.append(f"{label}: upload_prompt -> {status}")
    assert not wrong, wrong
    # nothing a refused key asked for happened: the model is there, at its first version
    assert envelope(call("GET", "/models/{model_name}", SECRET, {"model_name": HR}), 200)["data"]["version"] == 1


def test_a_403_names_the_key_and_what_it_may_not_do(api_secret, aws):
    key = new_key("chat", "hr-*")
    key_id = key.split("_")[1]
    body = envelope(call("POST", "/train", key, body={"model_name": "hr-x", "file_list": ["a.md"]}), 403)
    assert body["msg"] == f"key {key_id} (chat on hr-*) may not train model 'hr-x'"
    body = envelope(call("POST", "/upload_prompt", new_key("admin", "hr-*"), body={"file_list": ["a.txt"]}), 403)
    assert "may not train what every model shares (it needs scope *)" in body["msg"]


def test_listing_models_keeps_to_the_keys_scope(api_secret, aws, monkeypatch):
    from cdgpt import operations
    from cdgpt.models import catalog

    names = ["hr-a", "hr-b", "finance", "hrx"]
    monkeypatch.setattr(catalog, "model_names", lambda store, keys=None: names)
    seen: list[str] = []
    real_current = catalog.current
    monkeypatch.setattr(catalog, "current", lambda store, name: seen.append(name) or real_current(store, name))
    assert operations.list_models(lambda name: name.startswith("hr-")) == []  # none is trained
    assert sorted(seen) == ["hr-a", "hr-b"]  # a model out of scope is not even read

    call("POST", "/train", SECRET, body={"model_name": "hr-a", "file_list": [f"s3://{SOURCES}/handbook/"]})
    listed = envelope(call("GET", "/models", new_key("chat", "hr-*")), 200)["data"]["models"]
    assert [m["model_name"] for m in listed] == ["hr-a"]
    assert envelope(call("GET", "/models", new_key("admin", "finance", "hrx")), 200)["data"]["models"] == []


# -- authentication ---------------------------------------------------------------------------------


def test_a_key_works_without_any_api_secret_configured(aws):
    key = new_key("chat", "hr-*")
    body = envelope(call("GET", "/models", key), 200)
    assert body["data"] == {"models": []}
    assert envelope(call("GET", "/models", "wrong"), 401)["msg"].startswith("the API has no secret configured")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("0" if k[-1] != "0" else "1"),  # the right id, a wrong secret
        lambda k: k.replace(k.split("_")[1], "0" * 12),  # an unknown id
        lambda k: k + "0",  # too long
        lambda k: k.upper(),
        lambda k: "cdgpt_" + k.split("_")[1],  # no secret
    ],
    ids=["wrong-secret", "unknown-id", "too-long", "upper-case", "no-secret"],
)
def test_a_wrong_key_is_401(api_secret, aws, mangle):
    key = new_key("admin", "*")
    mangled = mangle(key)
    body = envelope(call("GET", "/models", mangled), 401)
    assert body["msg"] == (
        "unknown, wrong or revoked API key (cdgpt_...): send an active key"
        if mangled.startswith("cdgpt_")
        else "missing or wrong API secret: send Authorization: Bearer <secret>"
    )
    assert envelope(call("GET", "/models", key), 200)


def test_secrets_are_compared_as_hashes_in_constant_time(api_secret, aws, monkeypatch):
    import hmac

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest
    monkeypatch.setattr(records.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    key = new_key("chat", "*")
    envelope(call("GET", "/models", key), 200)
    envelope(call("GET", "/models", key[:-1] + ("0" if key[-1] != "0" else "1")), 401)
    keyed = [(a, b) for a, b in compared if b != SECRET.encode()]  # the wrong key is then tried as API_SECRET
    assert len(keyed) == 2 and all(len(a) == len(b) == 32 for a, b in keyed)  # HMAC-SHA256 digests
    assert all(key.split("_")[2].encode() not in a + b for a, b in keyed)


def test_only_a_salted_hash_is_stored_and_listed_never(api_secret, aws):
    key = new_key("train", "hr-*", rate=30)
    key_id, secret = key.split("_")[1:]
    stored = json.loads(aws.get_object(Bucket=ARTIFACTS, Key=f"keys/{key_id}.json")["Body"].read())
    assert secret not in json.dumps(stored)
    assert set(stored) == {
        "format",
        "key_id",
        "name",
        "role",
        "models",
        "rate_per_minute",
        "sources",
        "created_at",
        "revoked_at",
        "salt",
        "hash",
    }
    other = records.create_key(store(), "train", ["hr-*"])[0]
    assert other.salt != stored["salt"] and len(bytes.fromhex(stored["salt"])) == 16
    listed = [r.public() for r in records.list_keys(store())]
    assert sorted(r["key_id"] for r in listed) == sorted([key_id, other.key_id])
    assert all("hash" not in r and "salt" not in r for r in listed)


def test_a_revoked_key_is_refused_once_its_cached_record_expires(api_secret, aws, monkeypatch):
    key = new_key("chat", "*")
    key_id = key.split("_")[1]
    envelope(call("GET", "/models", key), 200)
    # another container revoked it: this one keeps its cached record for CDGPT_KEY_CACHE_SECONDS
    record = json.loads(aws.get_object(Bucket=ARTIFACTS, Key=f"keys/{key_id}.json")["Body"].read())
    aws.put_object(Bucket=ARTIFACTS, Key=f"keys/{key_id}.json", Body=json.dumps({**record, "revoked_at": "now"}))
    envelope(call("GET", "/models", key), 200)
    records.forget_all()  # the cache expired
    envelope(call("GET", "/models", key), 401)


def test_revoking_in_this_process_takes_effect_at_once(api_secret, aws):
    key = new_key("chat", "*")
    envelope(call("GET", "/models", key), 200)
    revoked = revoke_key(store(), key.split("_")[1])
    assert revoked.revoked_at is not None
    assert envelope(call("GET", "/models", key), 401)["msg"].startswith("unknown, wrong or revoked API key")
    assert revoke_key(store(), revoked.key_id).revoked_at == revoked.revoked_at  # revoking again changes nothing


def test_a_key_record_is_read_once_per_cache_period(api_secret, aws, monkeypatch):
    key = new_key("chat", "*")
    reads: list[str] = []
    real = records._read
    monkeypatch.setattr(records, "_read", lambda s, key_id: reads.append(key_id) or real(s, key_id))
    for _ in range(3):
        envelope(call("GET", "/models", key), 200)
    assert reads == [key.split("_")[1]]
    monkeypatch.setenv("CDGPT_KEY_CACHE_SECONDS", "0")
    reset_clients()
    for _ in range(2):
        envelope(call("GET", "/models", key), 200)
    assert len(reads) == 3


@pytest.mark.parametrize(
    ("role", "models"),
    [("owner", ["*"]), ("chat", []), ("chat", ["../x"]), ("chat", ["hr*x"]), ("chat", ["-x"]), ("chat", ["a" * 65])],
)
def test_invalid_roles_and_scopes_are_refused(aws, role, models):
    from cdgpt.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        create_key(store(), role, models)  # type: ignore[arg-type]
    assert aws.list_objects_v2(Bucket=ARTIFACTS).get("KeyCount") == 0


# -- throttling -------------------------------------------------------------------------------------


def test_a_key_over_its_rate_gets_429_with_retry_after(api_secret, aws, rate_table):
    limited, other = new_key("chat", "*", rate=2), new_key("chat", "*", rate=2)
    for _ in range(2):
        envelope(call("GET", "/models", limited), 200)
    refused = call("GET", "/models", limited)
    body = envelope(refused, 429)
    retry_after = int(refused["headers"]["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["msg"] == f"key {limited.split('_')[1]} is limited to 2 requests a minute; retry in {retry_after} s"
    envelope(call("POST", "/chat", limited, body={"model_name": "x", "question": "?"}), 429)  # every route counts
    envelope(call("GET", "/models", other), 200)  # another key has its own count
    item = rate_table.get_item(TableName=TABLE, Key={"key_id": {"S": limited.split("_")[1]}})["Item"]
    assert item["hits"] == {"N": "2"} and float(item["expires_at"]["N"]) > float(item["started"]["N"])


def test_the_api_secret_has_the_default_rate(api_secret, aws, rate_table, monkeypatch):
    monkeypatch.setenv("CDGPT_RATE_LIMIT", "3")
    reset_clients()
    statuses = [call("GET", "/models", SECRET)["statusCode"] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_requests_refused_before_authentication_are_not_counted(api_secret, aws, rate_table):
    key = new_key("chat", "*", rate=1)
    for _ in range(3):
        envelope(call("GET", "/models", key[:-1] + ("0" if key[-1] != "0" else "1")), 401)
    envelope(call("GET", "/models", key), 200)


def test_without_a_table_a_bucket_counts_in_the_container(api_secret, aws):
    key = new_key("chat", "*", rate=1)
    envelope(call("GET", "/models", key), 200)
    envelope(call("GET", "/models", key), 429)
    assert [o["Key"] for o in aws.list_objects_v2(Bucket=ARTIFACTS)["Contents"]] == [f"keys/{key.split('_')[1]}.json"]


def test_a_counter_that_cannot_be_reached_lets_the_request_through(api_secret, aws, monkeypatch):
    """Failing open: the stage throttling still bounds the API, and the failure is logged."""
    monkeypatch.setenv("CDGPT_RATE_TABLE", "no-such-table")
    reset_clients()
    envelope(call("GET", "/models", SECRET), 200)


def test_a_key_scoped_to_sources_trains_only_from_them(api_secret, aws):
    """Every route that fetches refuses an entry outside them (403, naming it), and a model it trains keeps
    the scope for its retrainings."""
    record, key = create_key(store(), "train", ["hr-*"], "hr sources", sources=[f"s3://{SOURCES}/handbook/"])
    elsewhere = f"s3://{SOURCES}/finance/plan.md"
    refusal = f"key {record.key_id} may not train on {elsewhere}: it may train from s3://{SOURCES}/handbook/"
    for method, resource, params, body in [
        ("POST", "/train", None, {"model_name": HR, "file_list": [f"s3://{SOURCES}/handbook/", elsewhere]}),
        ("POST", "/train", None, {"space_name": HR, "file_list": [elsewhere], "file_tag": "url"}),
        ("POST", "/models/{model_name}/sources", {"model_name": HR}, {"add": [elsewhere]}),
        ("POST", "/train", None, {"model_name": HR, "file_list": [f"s3://{SOURCES}/handbook/../finance/plan.md"]}),
    ]:
        assert envelope(call(method, resource, key, params, body), 403)["msg"].startswith(f"key {record.key_id} ")
    assert (
        envelope(call("POST", "/train", key, None, {"model_name": HR, "file_list": [elsewhere]}), 403)["msg"] == refusal
    )
    trained = call("POST", "/train", key, body={"model_name": HR, "file_list": [f"s3://{SOURCES}/handbook/"]})
    assert envelope(trained, 200)["data"]["model_name"] == HR
    manifest = json.loads(aws.get_object(Bucket=ARTIFACTS, Key=f"models/{HR}/manifest.json")["Body"].read())
    assert [source["within"] for source in manifest["sources"]] == [[f"s3://{SOURCES}/handbook/"]]
    listed = json.loads(aws.get_object(Bucket=ARTIFACTS, Key=f"keys/{record.key_id}.json")["Body"].read())
    assert listed["sources"] == [f"s3://{SOURCES}/handbook/"]
