"""The ``byok`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable

from byok_contracts import ByokError, subjects

from . import cli_keys, cli_ledger, cli_tokens
from .client import ByokClient

__all__ = ["main"]

Command = Callable[[ByokClient, argparse.Namespace], Awaitable[object]]


async def _health(client: ByokClient, args: argparse.Namespace) -> object:
    services = [args.service] if args.service else list(subjects.SERVICES)
    return {s: (await client.health(s)).model_dump(mode="json") for s in services}


async def _audit(client: ByokClient, args: argparse.Namespace) -> object:
    entries = await client.audit(scope=args.scope, key_id=args.key_id, account=args.account)
    return [entry.model_dump(mode="json") for entry in entries]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="byok", description="byok control plane client")
    parser.add_argument(
        "--nats",
        default=None,
        help="NATS URL(s), comma-separated (default $BYOK_NATS_URL, else the local make run)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    health = sub.add_parser("health", help="ask services for their health")
    health.add_argument("service", nargs="?", choices=subjects.SERVICES)
    health.set_defaults(run=_health)
    cli_keys.register(sub)
    cli_ledger.register(sub)
    cli_tokens.register(sub)
    audit = sub.add_parser("audit", help="who touched which key (operators)")
    audit.add_argument("--scope", help="type:id")
    audit.add_argument("--key", dest="key_id", help="a key_id")
    audit.add_argument("--account")
    audit.set_defaults(run=_audit)
    return parser


async def _main(args: argparse.Namespace) -> int:
    # BYOK_NATS_* from the environment, else what `make run` keeps for the command's role.
    client = await ByokClient.connect(
        args.nats,
        role=getattr(args, "role", "backend"),
        account=os.environ.get("BYOK_ACCOUNT"),  # the default --account of writes
    )
    try:
        run: Command = args.run
        result = await run(client, args)
    except ByokError as exc:
        print(
            json.dumps(
                {"status": "error", "code": exc.code, "error": exc.error, "message": exc.message}
            ),
            file=sys.stderr,
        )
        return 1
    finally:
        await client.close()
    print(json.dumps(result, indent=2, default=str))
    return int(getattr(args, "exit_code", 0))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return asyncio.run(_main(args))
