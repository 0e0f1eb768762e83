"""POST /chat (in this API's shape, or the original clients' with space_name)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cdgpt.answer import answering
from cdgpt.answer.templates import load_template
from cdgpt.api.auth import require
from cdgpt.api.contract import ChatResponse, ChatResult, responses
from cdgpt.api.original import (
    ChatBody,
    OriginalChatRequest,
    OriginalChatResponse,
    check_language_model,
    original_chat_response,
)
from cdgpt.api.resolver import answer_budget, logger, make_app, metrics, tracer
from cdgpt.clients import time_budget
from cdgpt.settings import get_settings

app = make_app()


@app.post(
    "/chat",
    summary="Ask a trained model a question; the answer cites its sources",
    responses=responses(ChatResponse | OriginalChatResponse),
)
@tracer.capture_method(capture_response=False)
def chat(request: Annotated[ChatBody, Body()]) -> ChatResponse | OriginalChatResponse:
    if isinstance(request, OriginalChatRequest):
        return original_chat(request)
    require(app, "chat", request.model_name)
    with time_budget(answer_budget(app.lambda_context)):  # a slow LLM ends in a 504, not a Lambda timeout
        result = answering.chat(
            request.model_name, request.question, request.history, conversation_id=request.conversation_id
        )
    metrics.add_metric(name="Answers", unit=MetricUnit.Count, value=1)
    return ChatResponse(data=ChatResult(**result))


def original_chat(request: OriginalChatRequest) -> OriginalChatResponse:
    require(app, "chat", request.space_name)
    check_language_model(request.model_name, get_settings())
    template = load_template(request.prompt_name) if request.prompt_name else None
    history = [item for item in request.history if item is not None]
    with time_budget(answer_budget(app.lambda_context)):
        result = answering.chat(request.space_name, request.question, history, template=template)
    metrics.add_metric(name="Answers", unit=MetricUnit.Count, value=1)
    return original_chat_response(request, result["answer"])


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
