"""GET / and GET /assets/{name}: the chat page and its two assets, served without auth.

The page holds no data: it asks the person for the API key and calls the API from the same origin,
so it needs no CORS. Files are read once per container; nothing but the names below is served.
"""

import hashlib
import json
from pathlib import Path

STATIC = Path(__file__).parent / "static"
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
SECURITY = {
    # Only this origin's script, style and API; no inline code, no frames, no other hosts (no CDN).
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_loaded: dict[str, tuple[str, str]] = {}  # name -> (text, etag)


def _file(name: str) -> tuple[str, str]:
    if name not in _loaded:
        text = (STATIC / name).read_text("utf-8")
        _loaded[name] = (text, '"' + hashlib.sha256(text.encode()).hexdigest()[:20] + '"')
    return _loaded[name]


def _reply(status: int, headers: dict[str, str], body: str = "") -> dict:
    return {"statusCode": status, "headers": {**SECURITY, **headers}, "body": body, "isBase64Encoded": False}


def lambda_handler(event: dict, context: object) -> dict:
    if event.get("resource") == "/":
        path = (event.get("requestContext") or {}).get("path") or event.get("path") or "/"
        if not path.endswith("/"):  # /Prod: relative asset and API paths need the stage's folder
            return _reply(301, {"Location": path + "/"})
        name = "index.html"
    else:
        name = (event.get("pathParameters") or {}).get("name") or ""
        if name not in FILES or name == "index.html":
            body = json.dumps({"code": 1, "msg": f"no asset {name[:64]!r}", "data": None})
            return _reply(404, {"Content-Type": "application/json"}, body)
    text, etag = _file(name)
    headers = {"Content-Type": FILES[name], "Cache-Control": "no-cache", "ETag": etag}
    sent = {k.lower(): v for k, v in (event.get("headers") or {}).items()}.get("if-none-match")
    if sent == etag:
        return _reply(304, headers)
    return _reply(200, headers, text)
