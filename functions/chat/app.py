"""POST /chat."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cdgpt.answer import answering
from cdgpt.api.contract import ChatRequest, ChatResponse, ChatResult, responses
from cdgpt.api.resolver import answer_budget, logger, make_app, metrics, tracer
from cdgpt.clients import time_budget

app = make_app()


@app.post(
    "/chat", summary="Ask a trained model a question; the answer cites its sources", responses=responses(ChatResponse)
)
@tracer.capture_method(capture_response=False)
def chat(request: Annotated[ChatRequest, Body()]) -> ChatResponse:
    with time_budget(answer_budget(app.lambda_context)):  # a slow LLM ends in a 504, not a Lambda timeout
        result = answering.chat(
            request.model_name, request.question, request.history, conversation_id=request.conversation_id
        )
    metrics.add_metric(name="Answers", unit=MetricUnit.Count, value=1)
    return ChatResponse(data=ChatResult(**result))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
