"""POST /train, and the scheduled retrain event."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cdgpt.api.contract import TrainRequest, TrainResponse, TrainResult, responses, scheduled_retrain_models
from cdgpt.api.resolver import logger, make_app, metrics, tracer
from cdgpt.secrets import export_openai_key
from cdgpt.training import pipeline as training

app = make_app()


@app.post("/train", summary="Train or retrain a model on a list of sources", responses=responses(TrainResponse))
@tracer.capture_method(capture_response=False)
def train(request: Annotated[TrainRequest, Body()]) -> TrainResponse:
    result = training.train(request.model_name, request.file_list, request.prompt)
    metrics.add_metric(name="ChunksIndexed", unit=MetricUnit.Count, value=result["chunks"])
    return TrainResponse(data=TrainResult(**result))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    models = scheduled_retrain_models(event)
    if models is not None:
        export_openai_key()
        summary = training.retrain_models(models)
        metrics.add_metric(name="ModelsRetrained", unit=MetricUnit.Count, value=len(summary["retrained"]))
        return summary
    return app.resolve(event, context)
