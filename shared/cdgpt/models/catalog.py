"""What the models are: summaries for a listing, and one model's details with every source's status.

A model is damaged when its manifest cannot be read, or when the store's listing (which the listing of
names needs anyway) shows one of its artifacts missing or of another size than its manifest records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from cdgpt.models.registry import (
    Background,
    Current,
    EmbeddingInfo,
    Manifest,
    SourceRecord,
    current,
    model_names,
    stored_damage,
)
from cdgpt.models.store import ArtifactStore
from cdgpt.usage import UsageSummary

if TYPE_CHECKING:
    from cdgpt.training.jobs import Job

READERS = 8  # manifests read in parallel for a listing


class ModelSummary(BaseModel):
    model_name: str
    status: Literal["ready", "damaged", "training"]  # training: its first version is not published yet
    version: int | None = None
    created_at: str | None = None
    documents: int | None = None
    chunks: int | None = None
    embedding: EmbeddingInfo | None = None
    training_job: str | None = None  # the job training it now, if any
    problem: str | None = None  # why a damaged model cannot be used


class ModelDetail(ModelSummary):
    usage: UsageSummary | None = Field(None, description="chats, trainings and tokens per day, last 30 days")
    version_id: str | None = None
    prompt: str | None = None
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    chunking: dict[str, int] = {}
    background: dict[str, Background] = Field(
        {}, description="per probe language, the best cosines of questions no document answers: median, p90"
    )
    sources: list[SourceRecord] = []


def _summary_fields(manifest: Manifest) -> dict[str, Any]:
    return {
        "version": manifest.version,
        "created_at": manifest.created_at,
        "documents": manifest.counts.get("documents"),
        "chunks": manifest.counts.get("chunks"),
        "embedding": manifest.embedding,
    }


def summaries(
    store: ArtifactStore,
    training: Callable[[str], Job | None],
    visible: Callable[[str], bool] = lambda _: True,
    in_training: Iterable[str] = (),
) -> list[ModelSummary]:
    """Every (visible) model that exists (deleted ones are left out), with the job training it, if any; and
    those of `in_training` (names a job has held) that a job is training before their first version."""

    sizes = store.sizes("models/")

    def one(name: str) -> ModelSummary | None:
        state = current(store, name)
        if damage := _damage(store, state, sizes):  # what a readable manifest says: the version that is damaged
            known = _summary_fields(state.manifest) if state.manifest is not None else {}
            return ModelSummary(model_name=name, status="damaged", problem=damage, **known)
        job = training(name)
        if state.manifest is None:  # deleted, or not published yet (a name only a job's lock gives)
            return ModelSummary(model_name=name, status="training", training_job=job.job_id) if job else None
        return ModelSummary(
            model_name=name, status="ready", training_job=job.job_id if job else None, **_summary_fields(state.manifest)
        )

    names = sorted(set(model_names(store, sizes)) | set(in_training))
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return [s for s in pool.map(one, filter(visible, names)) if s is not None]


def _damage(store: ArtifactStore, state: Current, listed: dict[str, int] | None = None) -> str | None:
    """Why the model is damaged: its manifest unreadable, or its version's files wrong in the listing of
    "models/" (`listed`), checked again on a fresh listing of the model alone (a version published after
    that listing points at files it does not hold yet), or in that fresh listing alone."""
    if state.damaged or state.manifest is None:
        return state.damaged
    if listed is not None and stored_damage(state.manifest, listed) is None:
        return None
    return stored_damage(state.manifest, store.sizes(f"models/{state.manifest.model_name}/"))


def detail(store: ArtifactStore, name: str, training: Job | None) -> ModelDetail:
    state = current(store, name)
    job = training.job_id if training else None
    if damage := _damage(store, state):  # what its manifest still says (its sources, to retrain it on)
        m = state.manifest
        known = {} if m is None else {**_summary_fields(m), "prompt": m.prompt, "sources": m.sources}
        return ModelDetail(model_name=name, status="damaged", problem=damage, training_job=job, **known)
    manifest = state.manifest
    if manifest is None:
        if training is not None:
            return ModelDetail(model_name=name, status="training", training_job=job)
        raise state.not_found(name)
    return ModelDetail(
        model_name=name,
        status="ready",
        training_job=job,
        version_id=manifest.version_id,
        prompt=manifest.prompt,
        sizes=manifest.sizes,
        counts=manifest.counts,
        chunking=manifest.chunking,
        background=manifest.background,
        sources=manifest.sources,
        **_summary_fields(manifest),
    )
