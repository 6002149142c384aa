"""``byok ledger grant|balance|verify`` and ``byok usage``."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from .cli_keys import options
from .client import ByokClient

__all__ = ["register"]


async def _grant(client: ByokClient, args: argparse.Namespace) -> Any:
    reply = await client.grant(
        args.account, args.amount, reason=args.reason, idempotency_key=args.idempotency_key
    )
    return reply.model_dump(mode="json")


async def _balance(client: ByokClient, args: argparse.Namespace) -> Any:
    return (await client.balance(args.account)).model_dump(mode="json")


async def _verify(client: ByokClient, args: argparse.Namespace) -> Any:
    report = await client.verify_ledger(args.account)
    if not report.consistent:
        # a non-zero exit for scripts and cron jobs; the report still goes to stdout
        args.exit_code = 2
    return report.model_dump(mode="json")


async def _usage(client: ByokClient, args: argparse.Namespace) -> Any:
    named = options(args, "scope", "key_id", "account", "since", "until")
    return (await client.usage(**named)).model_dump(mode="json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ledger = sub.add_parser("ledger", help="platform credits")
    actions = ledger.add_subparsers(dest="ledger_command", required=True)
    grant = actions.add_parser("grant", help="add credits (idempotent)")
    grant.add_argument("account")
    grant.add_argument("amount", type=int)
    grant.add_argument("--reason", required=True)
    grant.add_argument("--idempotency-key", required=True)
    grant.set_defaults(run=_grant)
    balance = actions.add_parser("balance", help="an account's balance and mode")
    balance.add_argument("account")
    balance.set_defaults(run=_balance)
    verify = actions.add_parser(
        "verify", help="recompute every balance from the journal; exit 2 on any difference"
    )
    verify.add_argument("--account", default=None)
    verify.set_defaults(run=_verify)

    usage = sub.add_parser("usage", help="calls, tokens and estimated cost")
    target = usage.add_mutually_exclusive_group(required=True)
    target.add_argument("--scope", help="type:id, e.g. session:abc or workspace:acme")
    target.add_argument("--key-id")
    target.add_argument("--account")
    usage.add_argument("--since", type=datetime.fromisoformat, help="ISO time (UTC if no zone)")
    usage.add_argument("--until", type=datetime.fromisoformat, help="ISO time, exclusive")
    usage.set_defaults(run=_usage)
