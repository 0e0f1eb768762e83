"""The chat page's function (GET / and its assets, no auth) and CORS for a page on another origin (off
unless CDGPT_CORS_ORIGINS names it): the handlers called with API Gateway events, and `cdgpt serve`."""

from __future__ import annotations

import json

import pytest

from cdgpt.clients import reset_clients
from tests.support.lambda_events import (  # noqa: F401 (fixtures)
    ROUTES,
    api_secret,
    aws,
    chat_handler,
    event,
    invoke,
    load_handler,
    moto_aws,
    route_event,
)
from tests.support.serve import serving

page_handler = load_handler(ROUTES["GET", "/"])
PAGE_ORIGIN = "https://intranet.example.com"


def page_event(resource: str, name: str | None = None, **headers: str) -> dict:
    evt = route_event("GET", resource, {"name": name} if name else None)
    evt["headers"] = {**evt["headers"], **headers}
    return evt


def test_the_page_and_its_assets_are_served_without_a_key():
    page = invoke(page_handler, page_event("/"))
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert '<script src="assets/app.js" defer></script>' in page["body"]
    assert "script-src 'self'" in page["headers"]["Content-Security-Policy"]
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        asset = invoke(page_handler, page_event("/assets/{name}", name))
        assert asset["statusCode"] == 200 and asset["headers"]["Content-Type"].startswith(kind)


@pytest.mark.parametrize("name", ["index.html", "../app.py", "app.py", "nope.js", "%2e%2e%2fapp.py"])
def test_nothing_but_the_two_assets_is_served(name):
    asset = invoke(page_handler, page_event("/assets/{name}", name))
    assert asset["statusCode"] == 404 and json.loads(asset["body"])["code"] == 1


def test_the_page_without_the_stages_slash_is_redirected_to_it():
    evt = page_event("/")
    evt["requestContext"]["path"] = "/Prod"  # relative asset and API paths need /Prod/
    moved = invoke(page_handler, evt)
    assert moved["statusCode"] == 301 and moved["headers"]["Location"] == "/Prod/"


def test_an_unchanged_asset_is_304():
    etag = invoke(page_handler, page_event("/assets/{name}", "app.js"))["headers"]["ETag"]
    again = invoke(page_handler, page_event("/assets/{name}", "app.js", **{"If-None-Match": etag}))
    assert again["statusCode"] == 304 and again["body"] == ""


def test_the_script_never_renders_text_as_html():
    from tests.support import REPO

    script = (REPO / "functions/web/static/app.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script


# -- CORS ------------------------------------------------------------------------------------------


def preflight(origin: str) -> dict:
    evt = event("chat", body=None, headers={"Authorization": None, "Origin": origin})
    evt["httpMethod"] = "OPTIONS"
    evt["headers"]["Access-Control-Request-Method"] = "POST"
    return invoke(chat_handler, evt)


def test_without_allowed_origins_there_are_no_cors_headers(api_secret):
    answered = preflight(PAGE_ORIGIN)
    assert answered["statusCode"] == 204 and answered["headers"] == {}
    refused = invoke(chat_handler, event("chat", headers={"Authorization": None, "Origin": PAGE_ORIGIN}))
    assert refused["statusCode"] == 401 and "Access-Control-Allow-Origin" not in refused["headers"]


def test_an_allowed_origin_gets_its_preflight_and_its_responses(api_secret, monkeypatch):
    monkeypatch.setenv("CDGPT_CORS_ORIGINS", f"{PAGE_ORIGIN}/, http://localhost:8080")
    reset_clients()
    answered = preflight(PAGE_ORIGIN)
    assert answered["statusCode"] == 204
    assert answered["headers"]["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    assert "Authorization" in answered["headers"]["Access-Control-Allow-Headers"]
    assert "POST" in answered["headers"]["Access-Control-Allow-Methods"]
    assert preflight("https://elsewhere.example.com")["headers"] == {
        "Vary": "Origin"
    }  # no permission, and cacheable so
    other = invoke(
        chat_handler, event("chat", headers={"Authorization": None, "Origin": "https://elsewhere.example.com"})
    )
    assert other["headers"]["Vary"] == "Origin" and "Access-Control-Allow-Origin" not in other["headers"]
    refused = invoke(chat_handler, event("chat", headers={"Authorization": None, "Origin": PAGE_ORIGIN}))
    assert refused["statusCode"] == 401 and refused["headers"]["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    routed = invoke(
        chat_handler,
        event("chat", body={"model_name": "nothing-here", "question": "q"}, headers={"Origin": PAGE_ORIGIN}),
    )
    assert routed["statusCode"] == 404
    assert routed["multiValueHeaders"]["Access-Control-Allow-Origin"] == [PAGE_ORIGIN]
    assert routed["multiValueHeaders"]["Vary"] == ["Origin"]


def test_every_api_route_of_the_template_has_its_preflight():
    from cdgpt.local.server import template_routes
    from tests.support import REPO

    routes = [r for r in template_routes(REPO / "template.yaml") if r.function != "WebFunction"]
    paths = {r.path for r in routes}
    assert "/upload_prompt" in paths
    assert paths == {r.path for r in routes if r.method == "OPTIONS"}


def test_serve_answers_the_page_and_preflights(tmp_path):
    with serving(tmp_path, env={"CDGPT_CORS_ORIGINS": PAGE_ORIGIN}) as served:
        page = served.request("GET", "/")
        assert page.status_code == 200 and "<title>Custom Data GPT</title>" in page.text
        assert served.request("HEAD", "/assets/app.js").status_code == 200
        assert served.request("GET", "/assets/missing.js").status_code == 404
        for path in ("/models/handbook", "/upload_prompt"):
            answered = served.request("OPTIONS", path, headers={"Origin": PAGE_ORIGIN})
            assert answered.status_code == 204 and answered.headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
