"""Planning: whether a training runs sharded, and its documents cut into shards, in file_list order.

Each string entry is expanded as `ingest` expands it (a prefix, folder or sitemap into its documents,
each document named by an earlier entry left to that entry) and each of its documents becomes an item
of its own, named by the document's own entry (`s3://bucket/key`, a path, a page's URL): a shard's
worker ingests those exactly as one worker would. A crawl entry finds its pages while it fetches them,
so it stays one item and weighs its `max_pages`. Shards are consecutive runs of items, so the chunks of
shard 0, 1, ... in order are the chunks one worker would have made.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cdgpt.errors import PayloadTooLarge
from cdgpt.ingest.incremental import Previous, listed_documents
from cdgpt.ingest.pipeline import ALREADY_INCLUDED, _expand, unclaimed  # the same expansion and claims as ingest
from cdgpt.ingest.sources import SourceDocument
from cdgpt.ingest.sources.entries import CrawlEntry, Entry
from cdgpt.ingest.sources.scope import Scope
from cdgpt.limits import MAX_SHARDED_DOCUMENTS, MAX_SHARDS
from cdgpt.models.registry import SourceRecord, check_model_name, current
from cdgpt.models.store import ArtifactStore
from cdgpt.settings import Settings
from cdgpt.training.jobs import JobRequest
from cdgpt.training.pipeline import check_file_list, check_prompt, chunking, retrain_request
from cdgpt.training.sharded.files import EntryPlan, Item, Plan, ShardSpec, write_plan


def plan(job_id: str, request: JobRequest, store: ArtifactStore, settings: Settings) -> Plan | None:
    """The training's shards, written to the store; None when one worker should run it: at most
    CDGPT_SHARD_ABOVE_DOCUMENTS documents, or adding and removing sources (which keeps the rest)."""
    if request.kind == "sources":
        return None
    name = check_model_name(request.model_name)
    base = current(store, name)  # the state the training publishes over, read before anything is fetched
    retraining = request.kind == "retrain"
    if retraining:
        entries, prompt, scopes = retrain_request(store, name)
    else:
        entries, prompt = check_file_list(request.file_list), check_prompt(request.prompt)
        scopes = dict.fromkeys(entries, request.within)
    within = [scopes.get(entry) for entry in entries]
    previous = listed_documents(base.manifest, chunking(settings)) if retraining else Previous()
    found = _documents(entries, settings, previous, within)
    items = _items(found, within)
    weights = [item.entry.crawl.max_pages if isinstance(item.entry, CrawlEntry) else 1 for item in items]
    documents = sum(weights)
    if documents <= settings.shard_above_documents:
        return None
    if documents > MAX_SHARDED_DOCUMENTS:
        raise PayloadTooLarge(f"the sources hold more than {MAX_SHARDED_DOCUMENTS} documents")
    specs = _shards(items, weights, settings.shard_documents)
    if len(specs) > MAX_SHARDS:
        raise PayloadTooLarge(f"the training would have more than {MAX_SHARDS} shards: raise CDGPT_SHARD_DOCUMENTS")
    planned = Plan(
        job_id=job_id,
        model_name=name,
        prompt=prompt,
        base_etag=base.etag,
        entries=[
            EntryPlan(entry=entry, settled=_settled(entry, f), within=scope)
            for entry, f, scope in zip(entries, found, within, strict=True)
        ],
        shards=len(specs),
        documents=documents,
        keep_unavailable=retraining,
    )
    write_plan(store, planned, specs)
    return planned


Found = list[SourceDocument] | str | CrawlEntry  # an entry's documents, why it cannot be used, or a crawl


def _documents(entries: list[Entry], settings: Settings, previous: Previous, within: list[Scope]) -> list[Found]:
    """Each entry's documents (none twice: an earlier entry keeps a document, unless it is outside its scope),
    in parallel like ingest; in a retraining, an entry that cannot be listed now is its documents of before
    (the shards keep them without asking their sources)."""

    def expand(entry: Entry) -> Found:
        if isinstance(entry, CrawlEntry):
            return entry
        return _expand(entry, settings, previous, None)

    with ThreadPoolExecutor(max_workers=settings.fetch_workers) as pool:
        expanded = list(pool.map(expand, entries))
    seen: set[str] = set()  # claimed as ingest claims them
    return [unclaimed(f, scope, seen) if isinstance(f, list) else f for f, scope in zip(expanded, within, strict=True)]


def _items(found: list[Found], scopes: list[Scope]) -> list[Item]:
    """Each document's (or crawl's) item, in order, with its entry's scope."""
    items: list[Item] = []
    for of, (f, scope) in enumerate(zip(found, scopes, strict=True)):
        if isinstance(f, CrawlEntry):
            items.append(Item(entry=f, of=of, within=scope))
        elif isinstance(f, list):
            items.extend(Item(entry=d.source, of=of, unreachable=d.unreachable, within=scope) for d in f)
    return items


def _settled(entry: Entry, found: Found) -> SourceRecord | None:
    """The entry's record when planning already knows it, as ingest would record it."""
    if isinstance(found, str):
        return SourceRecord(entry=entry, status="failed", reason=found)
    if isinstance(found, list) and not found:
        return SourceRecord(entry=entry, status="ok", reason=ALREADY_INCLUDED)
    return None


def _shards(items: list[Item], weights: list[int], size: int) -> list[ShardSpec]:
    """Consecutive runs of items of about `size` documents (an item heavier than that alone)."""
    specs: list[ShardSpec] = []
    current: list[Item] = []
    weight = 0
    for item, w in zip(items, weights, strict=True):
        if current and weight + w > size:
            specs.append(ShardSpec(items=current, documents=weight))
            current, weight = [], 0
        current.append(item)
        weight += w
    if current:
        specs.append(ShardSpec(items=current, documents=weight))
    return specs
