"""Each template function runs in worker processes of its own, one invocation at a time each, like Lambda.

A handler is not safe to call from two threads at once, and on Lambda it never is: Powertools keeps
the current event in class attributes (`BaseRouter.current_event`), so concurrent invocations in one
process can validate, and answer, each other's requests. A worker is a Lambda container: it loads the
handler once from the template's CodeUri/Handler and takes one event at a time.

Server and worker speak in frames over the worker's stdin and stdout: a 4-byte big-endian length,
then UTF-8 JSON (`{"event", "request_id"}` in, `{"result"}` or `{"error"}` out). The worker's own
stdout (prints, Powertools logs) goes to stderr, the server's log.

A streamed reply is `{"start": {"statusCode", "headers"}}`, then `{"chunk": "..."}` frames, ended by
`{"result"}` (whose body, if any, is the last chunk) or `{"error"}`: the handler writes them through
the `response_sink` of its Lambda context (`cdgpt.api.streaming.ResponseSink`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import sys
import traceback
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import IO, Any

_LENGTH = struct.Struct(">I")
STOP_TIMEOUT_S = 5.0


class HandlerFailed(Exception):
    """The handler raised, or its worker process died (API Gateway answers 500 or 502)."""


def _frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message).encode()  # ASCII-escaped: a lone surrogate in a string survives the trip
    return _LENGTH.pack(len(data)) + data


class Worker:
    """One worker process for one function; `invoke` sends it an event and waits for its result."""

    def __init__(self, template: Path, function: str) -> None:
        self.template = template
        self.function = function
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cdgpt.local.workers",
            str(self.template),
            self.function,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        if await self._read() != {"ready": True}:
            await self.stop()
            raise HandlerFailed(f"the {self.function} worker could not load its handler (see the log above)")

    async def _read(self) -> dict[str, Any] | None:
        assert self.process is not None and self.process.stdout is not None
        try:
            length = _LENGTH.unpack(await self.process.stdout.readexactly(_LENGTH.size))[0]
            return json.loads(await self.process.stdout.readexactly(length))
        except asyncio.IncompleteReadError:
            return None

    async def invoke(self, event: dict[str, Any], request_id: str) -> AsyncGenerator[dict[str, Any], None]:
        """The worker's frames for this event: `start` and `chunk` frames of a streamed reply, then
        `result`. A consumer that stops early leaves the worker mid-reply: it is stopped."""
        if self.process is None or self.process.returncode is not None:
            await self.start()  # a worker that died is replaced, as Lambda replaces a crashed container
        assert self.process is not None and self.process.stdin is not None
        finished = False
        try:
            try:
                self.process.stdin.write(_frame({"event": event, "request_id": request_id}))
                await self.process.stdin.drain()
            except ConnectionError:  # it died before reading the event
                pass
            while True:
                reply = await self._read()
                if reply is None:
                    await self.stop()
                    raise HandlerFailed(f"the {self.function} worker exited")
                if "start" in reply or "chunk" in reply:
                    yield reply
                    continue
                finished = True
                if "result" not in reply:
                    raise HandlerFailed(f"the {self.function} handler raised")
                yield reply
                return
        finally:
            if not finished:  # cancelled or abandoned: half a conversation, it cannot be trusted with the next
                await self.stop()

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()  # end of input: the worker's loop ends
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()


class Pool:
    """Workers of one function: `size` started at once, more (up to `limit`) when every one is busy, as
    Lambda starts another container for a concurrent invocation; beyond `limit` a request waits. The
    worker idle the shortest time takes the next request: its memory is the likeliest still in cache."""

    def __init__(self, template: Path, function: str, size: int, limit: int | None = None) -> None:
        self.template, self.function = template, function
        self.limit = max(limit or size, size)
        self.workers = [Worker(template, function) for _ in range(size)]
        self.idle: asyncio.LifoQueue[Worker] = asyncio.LifoQueue()

    async def start(self) -> None:
        await asyncio.gather(*(worker.start() for worker in self.workers))
        for worker in self.workers:
            self.idle.put_nowait(worker)

    async def _take(self) -> Worker:
        if self.idle.empty() and len(self.workers) < self.limit:
            worker = Worker(self.template, self.function)
            self.workers.append(worker)  # counted before it starts, so racing requests do not overshoot
            try:
                await worker.start()
            except BaseException:
                self.workers.remove(worker)
                raise
            return worker
        return await self.idle.get()

    async def invoke(self, event: dict[str, Any], request_id: str) -> AsyncGenerator[dict[str, Any], None]:
        """The frames of one invocation (see `Worker.invoke`); the worker is busy until they end."""
        worker = await self._take()
        frames = worker.invoke(event, request_id)
        try:
            async for frame in frames:
                yield frame
        finally:
            await frames.aclose()
            self.idle.put_nowait(worker)

    async def stop(self) -> None:
        await asyncio.gather(*(worker.stop() for worker in self.workers))


class FrameSink:
    """The `response_sink` a handler streams through: each write is a frame to the server at once."""

    def __init__(self, channel_out: IO[bytes]) -> None:
        self.channel_out = channel_out

    def _send(self, message: dict[str, Any]) -> None:
        self.channel_out.write(_frame(message))
        self.channel_out.flush()

    def start(self, status: int, headers: dict[str, str]) -> None:
        self._send({"start": {"statusCode": status, "headers": headers}})

    def write(self, data: str) -> None:
        self._send({"chunk": data})


def _serve(handler: Any, function: str, channel_in: IO[bytes], channel_out: IO[bytes]) -> None:
    from cdgpt.local.server import lambda_context

    sink = FrameSink(channel_out)
    while header := channel_in.read(_LENGTH.size):
        request = json.loads(channel_in.read(_LENGTH.unpack(header)[0]))
        try:
            reply = {"result": handler(request["event"], lambda_context(function, request["request_id"], sink))}
        except Exception:  # what Lambda reports when the function itself fails
            print(f"handler {function} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            reply = {"error": "handler raised"}
        channel_out.write(_frame(reply))
        channel_out.flush()


def main(argv: list[str]) -> int:
    """`python -m cdgpt.local.workers TEMPLATE FUNCTION`: the worker's side."""
    template, function = Path(argv[0]), argv[1]
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever the handler prints goes to the server's log, not into the frames
    with open(os.devnull, "rb") as devnull:
        os.dup2(devnull.fileno(), 0)

    from cdgpt.local.server import load_handler, template_routes

    route = next(route for route in template_routes(template) if route.function == function)
    handler = load_handler(route)
    channel_out.write(_frame({"ready": True}))
    channel_out.flush()
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):  # Ctrl-C reaches the whole process group
        _serve(handler, function, channel_in, channel_out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
