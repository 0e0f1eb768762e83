"""`cdgpt keys create | list | revoke`: API keys, scoped to models and a role, managed where the models are."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _store() -> Any:
    from cdgpt.models.store import default_store
    from cdgpt.settings import get_settings

    return default_store(get_settings())


def cmd_create(args: argparse.Namespace) -> int:
    from cdgpt.keys.records import create_key

    models = [scope.strip() for given in args.models for scope in given.split(",") if scope.strip()]
    sources = [given.strip() for given in args.sources] if args.sources else None  # a URL may hold commas
    store = _store()
    record, key = create_key(store, args.role, models, args.name or "", args.rate, sources)
    rate = f"{record.rate_per_minute}/min" if record.rate_per_minute else "the default rate"
    trains = f", training from {', '.join(record.sources)}" if record.sources else ""
    print(
        f"created key {record.key_id} ({record.role} on {', '.join(record.models)}{trains}, {rate}) "
        f"in {store.location}; this is the only time it is shown:",
        file=sys.stderr,
    )
    print(key)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from cdgpt.keys.records import list_keys

    records = list_keys(_store())
    if args.json:
        print(json.dumps([r.public() for r in records], ensure_ascii=False, indent=1))
        return 0
    for r in records:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        rate = f"{r.rate_per_minute}/min" if r.rate_per_minute else "default"
        sources = f"  sources: {','.join(r.sources)}" if r.sources else ""
        print(f"{r.key_id}  {r.role:5}  {','.join(r.models):24} {rate:9} {r.created_at}  {state}  {r.name}{sources}")
    if not records:
        print("no keys yet: cdgpt keys create --role chat --models NAME", file=sys.stderr)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from cdgpt.keys.records import revoke_key

    record = revoke_key(_store(), args.key_id)
    print(f"revoked {record.key_id} at {record.revoked_at} (running containers may accept it for up to a minute)")
    return 0


def register(commands: Any) -> None:
    """Add `keys` and its subcommands to the CLI."""
    from cdgpt.keys.records import ROLES

    keys = commands.add_parser("keys", help="API keys scoped to models and a role (only their hashes are stored)")
    sub = keys.add_subparsers(dest="keys_command", required=True)

    create = sub.add_parser("create", help="create a key and print it once")
    create.add_argument(
        "--role", required=True, choices=ROLES, help="chat: read; train: also train; admin: also delete"
    )
    create.add_argument(
        "--models",
        required=True,
        action="append",
        help="model names or prefixes ending in * ('hr-*'), comma-separated or repeated; * for every model",
    )
    create.add_argument(
        "--sources",
        action="append",
        help="a source it may train from, repeated for more: a URL, an s3:// location or a path, each holding "
        "what lies below it (https://intranet.example.com/hr/, s3://docs/hr/); default: any source",
    )
    create.add_argument("--name", help="what the key is for (shown in the listing)")
    create.add_argument("--rate", type=int, help="requests a minute (default: CDGPT_RATE_LIMIT)")
    create.set_defaults(func=cmd_create)

    listing = sub.add_parser("list", help="every key, without its secret")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    revoke = sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_revoke)
