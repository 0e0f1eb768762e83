"""Authorisation: what the caller's key may do, asked by each route for its action and model.

The resolver has authenticated the request before routing and put its principal in the app's context.
`chat` reads (chat, a model's details, its jobs), `train` trains and adds or removes sources, `admin`
deletes; each role includes the ones before it. A key reaches only the models it is scoped to, and
trains only from the sources it is scoped to, if it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from cdgpt.errors import Forbidden
from cdgpt.ingest.sources.entries import Entry, entry_label
from cdgpt.ingest.sources.scope import entry_within
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


def require_sources(app: APIGatewayRestResolver, entries: Sequence[Entry]) -> list[str] | None:
    """The caller's sources, which the training holds every document to (None: any), once each entry starts
    within them; else Forbidden (403) naming the first that does not."""
    caller = principal(app)
    if caller.sources is None:
        return None
    for entry in entries:
        if not entry_within(entry, caller.sources):
            allowed = ", ".join(caller.sources[:3]) + (", ..." if len(caller.sources) > 3 else "")
            raise Forbidden(f"key {caller.key_id} may not train on {entry_label(entry)}: it may train from {allowed}")
    return list(caller.sources)
