"""A Lambda handler for testing `cdgpt serve` itself: it answers with the event it received.

Some resources misbehave on purpose: /crash raises, /exit ends its process, /stream-dies ends it after
the first event of a stream, /stream-slow streams 200 events slowly (each counted in the file its body
names), /malformed returns no status, /binary returns a base64 body.
"""

import base64
import json
import os
import time


def handler(event, context):
    resource = event["resource"]
    if resource == "/crash":
        raise RuntimeError("the handler failed")
    if resource == "/exit":
        os._exit(3)
    if resource == "/stream-dies":
        context.response_sink.start(200, {"Content-Type": "text/event-stream; charset=utf-8"})
        context.response_sink.write('event: token\ndata: {"text": "half an"}\n\n')
        os._exit(3)
    if resource == "/stream-slow":
        marker = json.loads(event["body"])["marker"]
        context.response_sink.start(200, {"Content-Type": "text/event-stream; charset=utf-8"})
        for n in range(200):
            context.response_sink.write(f'event: token\ndata: {{"text": "{n} "}}\n\n')
            with open(marker, "a") as counted:
                counted.write(f"{n}\n")
            time.sleep(0.05)
        return {"statusCode": 200, "body": ""}
    if resource == "/malformed":
        return {"body": "a reply without a status"}
    if resource == "/binary":
        return {"statusCode": 200, "body": base64.b64encode(b"\x00\xff\xfe").decode(), "isBase64Encoded": True}
    reply = {"event": event, "pid": os.getpid(), "function": context.function_name}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Content-Length": "1", "Connection": "close"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": json.dumps(reply),
    }
