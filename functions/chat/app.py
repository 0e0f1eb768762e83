"""POST /chat (in this API's shape, or the original clients' with space_name): the answer as JSON, or as
server-sent events (`"stream": true` or Accept: text/event-stream)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cdgpt.answer import answering
from cdgpt.answer.templates import load_template
from cdgpt.api import cors
from cdgpt.api.auth import principal, require
from cdgpt.api.contract import ChatRequest, ChatResponse, ChatResult, responses, status_for
from cdgpt.api.metering import publish_usage
from cdgpt.api.original import (
    ChatBody,
    OriginalChatRequest,
    OriginalChatResponse,
    check_language_model,
    original_chat_response,
)
from cdgpt.api.resolver import answer_budget, logger, make_app, metrics, tracer
from cdgpt.api.streaming import EventStream, wants_events
from cdgpt.clients import time_budget
from cdgpt.errors import CdgptError
from cdgpt.settings import get_settings
from cdgpt.usage import Usage

app = make_app()


def _answer(request: ChatRequest, stream: EventStream | None = None) -> ChatResponse:
    with time_budget(answer_budget(app.lambda_context)):  # a slow LLM ends in a 504, not a Lambda timeout
        result = answering.chat(
            request.model_name,
            request.question,
            request.history,
            conversation_id=request.conversation_id,
            owner=principal(app).key_id,
            on_token=stream.token if stream else None,
        )
    metrics.add_metric(name="Answers", unit=MetricUnit.Count, value=1)
    response = ChatResponse(data=ChatResult(**result))
    publish_usage(request.model_name, response.data.usage)
    return response


@app.post(
    "/chat",
    summary="Ask a trained model a question; the answer cites its sources",
    responses=responses(ChatResponse | OriginalChatResponse, events=True),
)
@tracer.capture_method(capture_response=False)
def chat(request: Annotated[ChatBody, Body()]) -> Response[ChatResponse | OriginalChatResponse | str]:
    if isinstance(request, OriginalChatRequest):
        return Response(200, "application/json", original_chat(request))
    require(app, "chat", request.model_name)
    if not wants_events(request.stream, app.current_event.headers):
        return Response(200, "application/json", _answer(request))
    stream = EventStream.for_context(app.lambda_context, cors.response_headers(app.current_event.raw_event))
    try:
        return stream.done(_answer(request, stream))
    except Exception as exc:
        if not stream.started:  # nothing sent yet: the usual status and envelope
            raise
        if isinstance(exc, CdgptError):
            logger.info("streamed answer failed", extra={"error": type(exc).__name__, "status": status_for(exc)})
            return stream.fail(str(exc))
        logger.exception("unexpected error in a streamed answer")
        return stream.fail(f"internal error; request id {app.current_event.request_context.request_id}")


def original_chat(request: OriginalChatRequest) -> OriginalChatResponse:
    require(app, "chat", request.space_name)
    check_language_model(request.model_name, get_settings())
    template = load_template(request.prompt_name) if request.prompt_name else None
    history = [item for item in request.history if item is not None]
    with time_budget(answer_budget(app.lambda_context)):
        result = answering.chat(request.space_name, request.question, history, template=template)
    metrics.add_metric(name="Answers", unit=MetricUnit.Count, value=1)
    publish_usage(request.space_name, Usage.model_validate(result["usage"]))
    return original_chat_response(request, result["answer"])


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
