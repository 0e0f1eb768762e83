"""POST /train and model management (jobs, listing, deletion, sources), the original clients' /upload_prompt;
the scheduled retrain event."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cdgpt import operations
from cdgpt.answer.templates import upload_templates
from cdgpt.api.auth import principal, require, require_sources, visible
from cdgpt.api.contract import (
    JobResponse,
    ModelDeleted,
    ModelDeletedResponse,
    ModelList,
    ModelListResponse,
    ModelName,
    ModelResponse,
    SourcesRequest,
    TrainResponse,
    job_view,
    responses,
    scheduled_retrain_models,
)
from cdgpt.api.jobs import IdempotencyKey, TrainOrJob, answer_job, job_url
from cdgpt.api.original import (
    OriginalTrainRequest,
    OriginalTrainResponse,
    TrainBody,
    UploadPromptRequest,
    UploadPromptResponse,
    original_train_response,
    upload_prompt_response,
)
from cdgpt.api.resolver import logger, make_app, metrics, tracer
from cdgpt.training.jobs import JobRequest

app = make_app()


def _started(job: JobRequest, idempotency_key: str | None) -> operations.Started:
    started = operations.start_job(job, idempotency_key)
    if started.created:
        metrics.add_metric(name="JobsStarted", unit=MetricUnit.Count, value=1)
    return started


@app.post(
    "/train",
    summary="Train or retrain a model on a list of sources (or in the original clients' shape, with space_name)",
    responses=responses(TrainResponse | OriginalTrainResponse, accepted=True),
)
@tracer.capture_method(capture_response=False)
def train(
    request: Annotated[TrainBody, Body()],
    idempotency_key: Annotated[IdempotencyKey, Header(alias="Idempotency-Key")] = None,
) -> Response[TrainOrJob]:
    if isinstance(request, OriginalTrainRequest):
        require(app, "train", request.space_name)
        within = require_sources(app, request.file_list)
        job = JobRequest(kind="train", model_name=request.space_name, file_list=request.file_list, within=within)
        return answer_job(app, _started(job, idempotency_key), request.wait_seconds, original_train_response)
    require(app, "train", request.model_name)
    job = JobRequest(
        kind="train",
        model_name=request.model_name,
        file_list=request.file_list,
        prompt=request.prompt,
        within=require_sources(app, request.file_list),
    )
    return answer_job(app, _started(job, idempotency_key), request.wait_seconds)


@app.post(
    "/upload_prompt",
    summary="Store prompt templates (.txt URLs) under their file names, for the original clients' prompt_name",
    responses=responses(UploadPromptResponse),
)
@tracer.capture_method(capture_response=False)
def upload_prompt(request: Annotated[UploadPromptRequest, Body()]) -> UploadPromptResponse:
    require(app, "train")  # templates are shared by every model
    within = require_sources(app, request.file_list)
    return upload_prompt_response([stored.size for stored in upload_templates(request.file_list, within=within)])


@app.post(
    "/models/<model_name>/sources",
    summary="Add sources to a model or remove them; only new text is embedded",
    responses=responses(TrainResponse, accepted=True),
)
@tracer.capture_method(capture_response=False)
def update_sources(
    model_name: Annotated[ModelName, Path()],
    request: Annotated[SourcesRequest, Body()],
    idempotency_key: Annotated[IdempotencyKey, Header(alias="Idempotency-Key")] = None,
) -> Response[TrainOrJob]:
    require(app, "train", model_name)
    within = require_sources(app, request.add)
    job = JobRequest(kind="sources", model_name=model_name, add=request.add, remove=request.remove, within=within)
    return answer_job(app, _started(job, idempotency_key), request.wait_seconds)


@app.get(
    "/jobs/<job_id>",
    summary="A training job: status, progress, and its result or why it failed",
    responses=responses(JobResponse),
)
@tracer.capture_method(capture_response=False)
def job(job_id: Annotated[str, Path(max_length=64)]) -> JobResponse:
    caller = principal(app)  # a job of a model out of the key's scope is not found: its model is not told
    found = operations.job_status(job_id, lambda model_name: caller.may("chat", model_name))
    return JobResponse(data=job_view(found, job_url(app, found.job_id)))


@app.get("/models", summary="Every trained model, with its version and size", responses=responses(ModelListResponse))
@tracer.capture_method(capture_response=False)
def models() -> ModelListResponse:
    return ModelListResponse(data=ModelList(models=operations.list_models(visible(app))))


@app.get(
    "/models/<model_name>",
    summary="A model: its manifest, and every source with its status",
    responses=responses(ModelResponse),
)
@tracer.capture_method(capture_response=False)
def model(model_name: Annotated[ModelName, Path()]) -> ModelResponse:
    require(app, "chat", model_name)
    return ModelResponse(data=operations.describe_model(model_name))


@app.delete(
    "/models/<model_name>",
    summary="Delete a model and every version; a training of it that is running is cancelled",
    responses=responses(ModelDeletedResponse),
)
@tracer.capture_method(capture_response=False)
def delete_model(model_name: Annotated[ModelName, Path()]) -> ModelDeletedResponse:
    require(app, "admin", model_name)
    deleted = operations.delete(model_name)
    metrics.add_metric(name="ModelsDeleted", unit=MetricUnit.Count, value=1)
    return ModelDeletedResponse(
        data=ModelDeleted(
            model_name=deleted.model_name, files_deleted=deleted.files_deleted, cancelled_job=deleted.cancelled_job
        )
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    models = scheduled_retrain_models(event)
    if models is not None:  # the schedule: one job per model, each on its own worker
        started = operations.schedule_retrains(models)
        metrics.add_metric(
            name="RetrainsStarted", unit=MetricUnit.Count, value=sum(v.startswith("j") for v in started.values())
        )
        return {"started": started}
    return app.resolve(event, context)
