"""Server-sent events for a streamed chat: the answer's pieces as they come, then the whole result.

    event: token    data: {"text": "..."}                     (one or more)
    event: done     data: {"code": 0, "msg": "success", "data": {...}}   the usual envelope, last
    event: error    data: {"code": 1, "msg": "...", "data": null}        instead of `done`, when the
                                                                          answer failed after it began

A handler writes its events to a `ResponseSink` when the runtime gives it one in the Lambda context
(`context.response_sink`): `cdgpt serve` does, and sends each event to the client as it is written.
Without one (a Lambda behind API Gateway's buffered proxy integration) the events are kept and
answered as one `text/event-stream` body, the same events at once. A failure before the first event
has its usual status and JSON envelope either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import Response

from cdgpt.api.contract import Envelope, failure
from cdgpt.api.resolver import to_json

EVENT_STREAM = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy should hold the events back


class ResponseSink(Protocol):
    """Where a streamed response goes as it is written (given by the runtime in the Lambda context)."""

    def start(self, status: int, headers: dict[str, str]) -> None: ...

    def write(self, data: str) -> None: ...


def wants_events(stream: bool | None, headers: Mapping[str, str] | None) -> bool:
    """`"stream"` in the body, true or false; without it, an Accept header that names text/event-stream
    (and does not refuse it with q=0)."""
    if stream is not None:
        return stream
    accept = next((v for k, v in (headers or {}).items() if k.lower() == "accept"), "")
    return any(_accepts_events(part) for part in accept.split(","))


def _accepts_events(media_range: str) -> bool:
    media_type, *parameters = (part.strip().lower() for part in media_range.split(";"))
    refused = any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in parameters)
    return media_type == EVENT_STREAM and not refused


def sse(event: str, data: Any) -> str:
    """One event; JSON keeps every newline escaped, so `data` is a single line."""
    return f"event: {event}\ndata: {to_json(data)}\n\n"


class EventStream:
    """The events of one response: written through the sink as they come, or kept for one body."""

    def __init__(self, sink: ResponseSink | None, headers: dict[str, str] | None = None) -> None:
        self.sink = sink
        self.headers = {**HEADERS, **(headers or {})}
        self.kept: list[str] = []
        self.started = False  # whether the client has received anything (its status can no longer change)

    @classmethod
    def for_context(cls, context: Any, headers: dict[str, str] | None = None) -> EventStream:
        """The stream for this invocation: live when the runtime gave a sink; `headers` go on its start."""
        return cls(getattr(context, "response_sink", None), headers)

    def send(self, event: str, data: Any) -> None:
        text = sse(event, data)
        if self.sink is None:
            self.kept.append(text)
            return
        if not self.started:
            self.sink.start(200, {"Content-Type": EVENT_STREAM + "; charset=utf-8", **self.headers})
            self.started = True
        self.sink.write(text)

    def token(self, text: str) -> None:
        self.send("token", {"text": text})

    def done(self, result: Envelope) -> Response[Any]:
        self.send("done", result.model_dump(mode="json"))
        return self._response()

    def fail(self, msg: str) -> Response[Any]:
        """The answer failed after the client received its first events: an `error` event ends the stream."""
        self.send("error", failure(msg))
        return self._response()

    def _response(self) -> Response[Any]:
        """What the handler returns: the kept events, or nothing more once they were all sent."""
        return Response(200, EVENT_STREAM + "; charset=utf-8", "".join(self.kept), headers=HEADERS)
