"""The wire contract: request and response models, the {code, msg, data} envelope, error statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, model_validator

from cdgpt import errors
from cdgpt.answer.conversations import CONVERSATION_ID
from cdgpt.ingest.sources.entries import CrawlEntry, request_entry
from cdgpt.limits import (
    MAX_ENTRY_CHARS,
    MAX_HISTORY_CHARS,
    MAX_HISTORY_ITEM_CHARS,
    MAX_HISTORY_ITEMS,
    MAX_PROMPT_CHARS,
    MAX_QUESTION_CHARS,
    MAX_SOURCES,
    MAX_WAIT_SECONDS,
)
from cdgpt.models.catalog import ModelDetail, ModelSummary
from cdgpt.models.registry import MODEL_NAME
from cdgpt.training.jobs import Job
from cdgpt.training.pipeline import TrainOutcome
from cdgpt.usage import Usage


def _history_budget(history: list[str]) -> list[str]:
    if sum(map(len, history)) > MAX_HISTORY_CHARS:
        raise ValueError(f"history is limited to {MAX_HISTORY_CHARS} characters in all")
    return history


def _no_parent_steps(name: str) -> str:
    if ".." in name:
        raise ValueError("model_name must not contain '..'")
    return name


ModelName = Annotated[
    str, StringConstraints(pattern=MODEL_NAME.pattern, max_length=64), AfterValidator(_no_parent_steps)
]
Entry = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ENTRY_CHARS)]
FileListItem = Annotated[Entry | CrawlEntry, PlainValidator(request_entry, json_schema_input_type=Entry | CrawlEntry)]
HistoryItem = Annotated[str, StringConstraints(max_length=MAX_HISTORY_ITEM_CHARS)]


class Request(BaseModel):
    # Original clients send the secret in the body; unknown fields are ignored, not rejected. Types are strict:
    # "stream": "yes" or "wait_seconds": true is a 422, not taken for true and 1.
    model_config = ConfigDict(extra="ignore", strict=True)
    secret: str | None = Field(None, description="API secret (prefer the Authorization header)", exclude=True)


WaitSeconds = Annotated[
    float | None,
    Field(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="how long to wait for the training to finish before answering 202 with its job (default 20; 0: at once)",
    ),
]


class TrainRequest(Request):
    model_name: ModelName
    file_list: Annotated[list[FileListItem], Field(min_length=1, max_length=MAX_SOURCES)]
    prompt: Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)] | None = None
    wait_seconds: WaitSeconds = None


class SourcesRequest(Request):
    add: Annotated[list[FileListItem], Field(max_length=MAX_SOURCES)] = []
    remove: Annotated[list[FileListItem], Field(max_length=MAX_SOURCES)] = []
    wait_seconds: WaitSeconds = None

    @model_validator(mode="after")
    def _changes_something(self) -> SourcesRequest:
        if not self.add and not self.remove:
            raise ValueError("give sources to add or to remove")
        return self


class ChatRequest(Request):
    model_name: ModelName
    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)]
    history: Annotated[list[HistoryItem], Field(max_length=MAX_HISTORY_ITEMS), AfterValidator(_history_budget)] = []
    conversation_id: Annotated[
        str | None,
        StringConstraints(pattern=CONVERSATION_ID.pattern),
        Field(
            description="keep the history on the server under this id (16-128 letters, digits, '-', '_': a UUID); "
            "a non-empty `history` in the request replaces what was kept"
        ),
    ] = None
    stream: bool | None = Field(
        None,
        description="answer as server-sent events: `token` events as the answer is written, then `done` with "
        "the usual envelope; without it, an Accept header naming text/event-stream asks for them",
    )


class SourceStatus(BaseModel):
    entry: str | CrawlEntry
    status: str
    reason: str | None = None


class TrainResult(BaseModel):
    model_name: str
    index_model_size: float
    pkl_model_size: float = Field(description="size of the docstore (JSON; the name is kept for old clients)")
    lexical_model_size: float
    size_type: str = "kb"
    version: int
    version_id: str
    documents: int
    chunks: int
    chunks_embedded: int = Field(description="chunks whose text was new; unchanged text keeps its vector")
    documents_unchanged: int = Field(
        0, description="documents reused as they were: not modified (304, ETag) or same content"
    )
    documents_kept: int = Field(0, description="documents a retraining could not fetch now, kept as they were")
    documents_dropped: int = Field(0, description="documents the version before had and this one has not")
    sources: list[SourceStatus]
    usage: Usage | None = Field(None, description="what embedding the new text used")


def train_result(outcome: TrainOutcome) -> TrainResult:
    """A published version in the original clients' terms (sizes in KB; the docstore is `pkl_model_size`)."""

    def kb(*artifacts: str) -> float:
        return round(sum(outcome.sizes.get(a, 0) for a in artifacts) / 1024, 4)

    return TrainResult(
        model_name=outcome.model_name,
        index_model_size=kb("index"),
        pkl_model_size=kb("docstore", "docstore_index"),  # the chunks' text, and where each one starts
        lexical_model_size=kb("lexical"),
        version=outcome.version,
        version_id=outcome.version_id,
        documents=outcome.documents,
        chunks=outcome.chunks,
        chunks_embedded=outcome.chunks_embedded,
        documents_unchanged=outcome.documents_unchanged,
        documents_kept=outcome.documents_kept,
        documents_dropped=outcome.documents_dropped,
        sources=[SourceStatus(entry=s.entry, status=s.status, reason=s.reason) for s in outcome.sources],
        usage=outcome.usage,
    )


class JobProgressView(BaseModel):
    stage: str
    documents_done: int
    documents_total: int
    chunks_embedded: int
    chunks_total: int


class JobAccepted(BaseModel):
    job_id: str
    status: str
    status_url: str
    model_name: str


class JobView(JobAccepted):
    kind: str
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    progress: JobProgressView
    result: TrainResult | None = Field(description="the published version, when the job succeeded")
    error: str | None = Field(description="why the job failed")


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def job_accepted(job: Job, status_url: str) -> JobAccepted:
    return JobAccepted(job_id=job.job_id, status=job.status, status_url=status_url, model_name=job.model_name)


def job_view(job: Job, status_url: str) -> JobView:
    return JobView(
        job_id=job.job_id,
        status=job.status,
        status_url=status_url,
        model_name=job.model_name,
        kind=job.kind,
        created_at=_when(job.created_at) or "",
        updated_at=_when(job.updated_at) or "",
        started_at=_when(job.started_at),
        finished_at=_when(job.finished_at),
        progress=JobProgressView(**job.progress.model_dump()),
        result=train_result(job.result) if job.result else None,
        error=job.failure.message if job.failure else None,
    )


def job_error(job: Job) -> errors.CdgptError:
    """A failed job's reason as the domain error a synchronous training would have raised (its class found
    among every domain error, those defined beside their code too: OutOfTime is a TrainingFailed)."""
    assert job.failure is not None
    classes: list[type[errors.CdgptError]] = [errors.CdgptError]
    while classes:
        cls = classes.pop()
        if cls.__name__ == job.failure.error:
            return cls(job.failure.message)
        classes.extend(cls.__subclasses__())
    return JobCrashed(job.failure.message)


class JobCrashed(errors.CdgptError):
    """The job failed unexpectedly (its message names the job; the worker's logs say more)."""


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelDeleted(BaseModel):
    model_name: str
    deleted: bool = True
    files_deleted: int
    cancelled_job: str | None


class RetrievedSource(BaseModel):
    source: str
    title: str
    score: float
    snippet: str
    page: int | None = Field(None, description="page (PDF), slide (PowerPoint) or sheet (Excel) of the best passage")
    url: str | None = Field(None, description="a web source's URL, with #anchor of the passage's nearest heading")


class ChatResult(BaseModel):
    answer: str
    history: list[str]
    sources: list[RetrievedSource]
    model_version: int
    answer_mode: str
    conversation_id: str | None = Field(None, description="the request's conversation_id, if it sent one")
    search_queries: list[str] = Field(
        [],
        description="what retrieval searched with: the question (a follow-up rewritten into a standalone "
        "question, or with the question before it) and its translation into the documents' main language",
    )
    usage: Usage | None = Field(None, description="tokens this answer used: embedding, prompt and completion")


SHAPES = ("current", "original")  # a body's two shapes: this API's, and the original service's last one


class Envelope(BaseModel):
    code: int = 0
    msg: str = "success"
    data: Any = None


class TrainResponse(Envelope):
    data: TrainResult


class JobAcceptedResponse(Envelope):
    msg: str = "accepted"
    data: JobAccepted


class JobResponse(Envelope):
    data: JobView


class ModelListResponse(Envelope):
    data: ModelList


class ModelResponse(Envelope):
    data: ModelDetail


class ModelDeletedResponse(Envelope):
    data: ModelDeleted


class ChatResponse(Envelope):
    data: ChatResult


class Failure(BaseModel):
    code: int = 1
    msg: str
    data: None = None


def failure(msg: str) -> dict[str, Any]:
    return Failure(msg=msg).model_dump()


STATUS = {
    errors.PayloadTooLarge: 413,
    errors.IdempotencyMismatch: 422,
    errors.InvalidValue: 422,
    errors.Forbidden: 403,
    errors.Throttled: 429,
    errors.InvalidRequest: 400,
    errors.NotFound: 404,
    errors.ModelMismatch: 409,
    errors.ConcurrentUpdate: 409,
    errors.TrainingFailed: 422,
    errors.SourceFailed: 422,
    errors.ModelDamaged: 503,
    errors.UpstreamTimeout: 504,
    errors.UpstreamError: 502,
    JobCrashed: 500,
}


ERRORS = {
    400: "The body is empty or not valid JSON, or an input is out of bounds",
    401: "The API key or secret is missing, wrong or revoked (or none is configured)",
    403: "The key's role or models do not allow this (a chat key training, a key for model A reading model B)",
    404: "No such model, job, prompt template or route",
    409: "The model needs another embedder, or it was changed by another training or deleted meanwhile",
    413: "The body, or a source, is larger than its limit",
    415: "The body is not sent as application/json",
    422: "A field is missing or invalid, or no source could be used",
    429: "The key made more requests than its rate allows: retry after the Retry-After header's seconds",
    500: "Unexpected failure; the message carries the request id",
    502: "The OpenAI-compatible server (or S3, or Lambda) failed after retries",
    503: "The model is damaged (its stored files cannot be read); train it again",
    504: "The OpenAI-compatible server did not answer within the request's time budget",
}


def responses(success: Any, accepted: bool = False, events: bool = False) -> dict[int, Any]:
    """The route's documented responses: the success model (and 202 for a job still running, or the
    server-sent events of a streamed answer), and the failure envelope per status."""
    documented: dict[int, Any] = {200: {"description": "Success", "content": {"application/json": {"model": success}}}}
    if events:
        documented[200]["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    if accepted:
        documented[202] = {
            "description": "The training is still running: poll status_url",
            "content": {"application/json": {"model": JobAcceptedResponse}},
        }
    for status, description in ERRORS.items():
        documented[status] = {"description": description, "content": {"application/json": {"model": Failure}}}
    documented[429]["headers"] = {
        "Retry-After": {"description": "seconds until the key may call again", "schema": {"type": "integer"}}
    }
    return documented


def status_for(exc: errors.CdgptError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def scheduled_retrain_models(event: dict[str, Any]) -> list[str] | None:
    """The models a scheduled (EventBridge) event asks to retrain; None when the event is an API request.

    The schedule's input is `{"retrain": ["name", ...]}` or `{"retrain": "a,b"}`; `"*"` means every model.
    """
    if "httpMethod" in event or "requestContext" in event:
        return None
    if event.get("source") == "aws.events" and "retrain" not in event:
        return ["*"]
    targets = event.get("retrain")
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise errors.InvalidRequest('a scheduled event needs "retrain": a list of model names or "*"')
    return targets
