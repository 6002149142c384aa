"""``byok tokens create|list|revoke``: the gateway's API tokens (operator only).

The token is printed once, by ``create``; the bucket keeps only its SHA-256.
Connect as the ``operator`` NATS user (``BYOK_NATS_USER=operator`` ...).
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from byok_shared.apitokens import ApiTokenStore

from .client import ByokClient

__all__ = ["parse_expiry", "register"]

_DURATION = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str) -> datetime:
    """``30d``, ``12h``, ``90m`` from now, or an ISO time (UTC if no zone)."""
    match = _DURATION.match(text.strip())
    if match:
        delta = timedelta(**{_UNITS[match.group("unit")]: int(match.group("n"))})
        return datetime.now(UTC) + delta
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected a duration (30d, 12h, 90m) or an ISO time"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def _create(client: ByokClient, args: argparse.Namespace) -> Any:
    store = ApiTokenStore(client.nc.jetstream())
    try:
        token, record = await store.create(
            args.account,
            role=args.role,
            scopes=args.scope or [],
            expires_at=args.expires,
            label=args.label,
        )
    except ValueError as exc:
        raise SystemExit(f"byok tokens create: {exc}") from None
    return {"token": token, **record.public(), "note": "shown once; store it now"}


async def _list(client: ByokClient, args: argparse.Namespace) -> Any:
    records = await ApiTokenStore(client.nc.jetstream()).list()
    if args.account:
        records = [r for r in records if r.account == args.account]
    return [r.public() for r in records]


async def _revoke(client: ByokClient, args: argparse.Namespace) -> Any:
    revoked = await ApiTokenStore(client.nc.jetstream()).revoke(args.token_id)
    if not revoked:
        args.exit_code = 1
    return {"token_id": args.token_id, "revoked": revoked}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = sub.add_parser("tokens", help="the HTTP gateway's API tokens")
    actions = tokens.add_subparsers(dest="tokens_command", required=True)
    create = actions.add_parser("create", help="issue a token (printed once)")
    create.add_argument("--account", required=True, help="account id ('*': operator, all)")
    create.add_argument(
        "--scope",
        action="append",
        help="limit to scopes of this type and id prefix, e.g. workspace:acme- (repeatable)",
    )
    create.add_argument("--role", choices=("backend", "viewer", "operator"), default="backend")
    create.add_argument("--expires", type=parse_expiry, default=None, help="30d, 12h, or ISO")
    create.add_argument("--label", default="", help="a note for `byok tokens list`")
    create.set_defaults(run=_create)
    listing = actions.add_parser("list", help="tokens (ids, accounts, roles; never the token)")
    listing.add_argument("--account", default=None)
    listing.set_defaults(run=_list)
    revoke = actions.add_parser("revoke", help="revoke a token at once, on every gateway")
    revoke.add_argument("token_id")
    revoke.set_defaults(run=_revoke)
