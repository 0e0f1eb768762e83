"""Authorisation: what the caller's key may do, asked by each route for its action and model.

The resolver has authenticated the request before routing and put its principal in the app's context.
`chat` reads (chat, a model's details, its jobs), `train` trains and adds or removes sources, `admin`
deletes; each role includes the ones before it. A key reaches only the models it is scoped to.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from cdgpt.errors import Forbidden
from cdgpt.keys.records import Principal, Role

VERBS = {"chat": "read", "train": "train", "admin": "delete"}


def principal(app: APIGatewayRestResolver) -> Principal:
    found = app.context.get("principal")
    assert isinstance(found, Principal), "the resolver admits a request only with its principal"
    return found


def require(app: APIGatewayRestResolver, role: Role, model_name: str | None = None) -> Principal:
    """The caller's principal, if its key has `role` on the model (None: on every model); else Forbidden (403)."""
    caller = principal(app)
    if not caller.may(role, model_name):
        what = f"model {model_name!r}" if model_name is not None else "what every model shares (it needs scope *)"
        raise Forbidden(
            f"key {caller.key_id} ({caller.role} on {', '.join(caller.models)}) may not {VERBS[role]} {what}"
        )
    return caller


def visible(app: APIGatewayRestResolver) -> Callable[[str], bool]:
    """Which models the caller may see (any role on them)."""
    return principal(app).covers
