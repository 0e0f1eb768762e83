"""A sharded training's files, beside its job record:

    jobs/<job_id>/shards/plan.json            the plan: entries, the manifest it publishes over, shard count
    jobs/<job_id>/shards/items.json           [{"shard": 0}, ...]: the Step Functions Map reads it (ItemReader)
    jobs/<job_id>/shards/<n>/spec.json        shard n's items: the file_list entries its worker ingests
    jobs/<job_id>/shards/<n>/index.faiss      its vectors (an exact index), docstore.jsonl + docstore.npz its chunks,
                                              terms.npz its chunks' term counts (for BM25)
    jobs/<job_id>/shards/<n>/result.json      its documents' records and counts, written last: the shard is done
    jobs/<job_id>/shards/errors/<step>.json   why a step failed (the failure path reports it)

All of it is removed when the job ends, either way.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel

from cdgpt.errors import TrainingFailed
from cdgpt.ingest.sources.entries import Entry
from cdgpt.ingest.sources.scope import Scope
from cdgpt.models.registry import SourceRecord
from cdgpt.models.store import ArtifactStore
from cdgpt.training.jobs import JobFailure
from cdgpt.usage import Usage

log = logging.getLogger(__name__)

FORMAT = 1
WRITERS = 16  # shard specs written at once
SHARD_FILES = ("index.faiss", "terms.npz", "docstore.jsonl", "docstore.npz")


class Item(BaseModel):
    entry: Entry  # what `ingest` is given: one document's own entry, or a whole crawl entry
    of: int  # the file_list entry it belongs to
    unreachable: str | None = None  # its entry could not be listed (a retraining): kept as it was, not fetched
    within: Scope = None  # the sources its documents must come from (the training key's)


class ShardSpec(BaseModel):
    items: list[Item]
    documents: int  # what it weighs in the job's progress (a crawl: its max_pages)


class EntryPlan(BaseModel):
    entry: Entry
    settled: SourceRecord | None = None  # its record when planning decided it (it failed, or was included before)
    within: Scope = None  # the sources its documents must come from (the training key's)


class Plan(BaseModel):
    format: int = FORMAT
    job_id: str
    model_name: str
    prompt: str | None
    base_etag: str | None  # the manifest the training publishes over (None: no model yet)
    entries: list[EntryPlan]
    shards: int
    documents: int
    keep_unavailable: bool = False  # a retraining: a document that cannot be reached now is kept as it was


class ShardResult(BaseModel):
    records: list[SourceRecord]  # one per item, as `ingest` recorded it
    of: list[int]  # each record's file_list entry
    chunks: int
    embedded: int  # chunks embedded (the others reused the previous version's vectors)
    dim: int  # 0 when the shard has no chunks
    provider: str
    model: str
    usage: Usage | None = None  # what its embedding used (results written before it was recorded: none)


def prefix(job_id: str) -> str:
    return f"jobs/{job_id}/shards/"


def items_key(job_id: str) -> str:
    return f"{prefix(job_id)}items.json"


def plan_key(job_id: str) -> str:
    return f"{prefix(job_id)}plan.json"


def shard_key(job_id: str, shard: int, name: str) -> str:
    return f"{prefix(job_id)}{shard:05d}/{name}"


def error_key(job_id: str, step: str) -> str:
    return f"{prefix(job_id)}errors/{step}.json"


def _read(store: ArtifactStore, key: str) -> bytes:
    found = store.get(key)
    if found is None:
        raise TrainingFailed(f"the sharded training's {key.rsplit('/shards/', 1)[-1]} is missing")
    return found[0]


def read_plan(store: ArtifactStore, job_id: str) -> Plan:
    return Plan.model_validate_json(_read(store, plan_key(job_id)))


def read_spec(store: ArtifactStore, job_id: str, shard: int) -> ShardSpec:
    return ShardSpec.model_validate_json(_read(store, shard_key(job_id, shard, "spec.json")))


def read_result(store: ArtifactStore, job_id: str, shard: int) -> ShardResult | None:
    """The shard's result; None while it has not been written."""
    found = store.get(shard_key(job_id, shard, "result.json"))
    return None if found is None else ShardResult.model_validate_json(found[0])


def write_plan(store: ArtifactStore, plan: Plan, specs: list[ShardSpec]) -> None:
    def write(shard: int) -> None:
        store.put(shard_key(plan.job_id, shard, "spec.json"), specs[shard].model_dump_json().encode())

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        list(pool.map(write, range(len(specs))))
    items = ",".join(f'{{"shard":{shard}}}' for shard in range(len(specs)))
    store.put(items_key(plan.job_id), f"[{items}]".encode())
    store.put(plan_key(plan.job_id), plan.model_dump_json().encode())


def write_error(store: ArtifactStore, job_id: str, step: str, failure: JobFailure) -> None:
    store.put(error_key(job_id, step), failure.model_dump_json().encode())


def recorded_errors(store: ArtifactStore, job_id: str) -> list[JobFailure]:
    """The failures steps recorded, in the order of their steps' names."""
    failures = []
    for key in sorted(store.keys(f"{prefix(job_id)}errors/")):
        found = store.get(key)
        if found is not None:
            failures.append(JobFailure.model_validate_json(found[0]))
    return failures


def remove(store: ArtifactStore, job_id: str) -> None:
    """Every file of the job's shards; a failure is logged, not raised: how the job ended matters more."""
    try:
        store.delete(store.keys(prefix(job_id)))
        store.tidy(prefix(job_id))
    except Exception:
        log.warning("could not remove a sharded training's files", extra={"job_id": job_id}, exc_info=True)
