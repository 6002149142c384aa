"""``byok keys ...``, ``byok scopes configure`` and ``byok accounts configure``.

The key itself is read from a prompt (no echo) or from stdin when piped, never
from argv unless ``--key-from-argv`` is given (argv shows up in ``ps`` and shell
history).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from pydantic import BaseModel

from .client import ByokClient

__all__ = ["options", "read_key", "register"]


def read_key(args: argparse.Namespace) -> str:
    if args.key is not None:
        if not args.key_from_argv:
            raise SystemExit(
                "refusing to read a key from argv; pipe it on stdin, answer the prompt, "
                "or pass --key-from-argv"
            )
        return str(args.key)
    if sys.stdin.isatty():
        return getpass.getpass("API key (not echoed): ").strip()
    return sys.stdin.readline().strip()


_ACCOUNT_HELP = "the account owning the scope (required unless platform or account:<id>)"


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The parsed options ``names`` (the client's keyword names) as keyword arguments."""
    return {name: getattr(args, name) for name in names}


def _dump(reply: BaseModel) -> Any:
    return reply.model_dump(mode="json")


_WRITE = ("actor", "account")
_SCOPE_SETTINGS = ("byok_enabled", "active_provider", "read_only", "route", *_WRITE)
_POLICY = ("plan", "byok_allowed", "mode", "platform_fallback", "allow_custom_models", "actor")


async def _configure(client: ByokClient, args: argparse.Namespace) -> Any:
    named = options(args, "provider", "model", *_WRITE)
    return _dump(await client.configure(args.scope, read_key(args), **named))


async def _remove(client: ByokClient, args: argparse.Namespace) -> Any:
    return _dump(await client.remove(args.scope, args.provider, **options(args, *_WRITE)))


async def _list(client: ByokClient, args: argparse.Namespace) -> Any:
    keys = await client.list_keys(args.scope, account=args.account)
    return [_dump(info) for info in keys]


async def _enable(client: ByokClient, args: argparse.Namespace) -> Any:
    named = options(args, *_WRITE)
    return _dump(await client.set_enabled(args.scope, args.provider, args.enabled, **named))


async def _report(client: ByokClient, args: argparse.Namespace) -> Any:
    return _dump(await client.report(args.key_id, args.status_code, args.reason))


async def _rotate(client: ByokClient, args: argparse.Namespace) -> Any:
    return _dump(await client.rotate_keys(cipher=not args.sealing_only, sealing=args.sealing))


async def _scope(client: ByokClient, args: argparse.Namespace) -> Any:
    return _dump(await client.configure_scope(args.scope, **options(args, *_SCOPE_SETTINGS)))


async def _account(client: ByokClient, args: argparse.Namespace) -> Any:
    return _dump(await client.configure_account(args.account, **options(args, *_POLICY)))


def register(sub: Any) -> None:
    """Add the key-management commands to the ``byok`` parser's subparsers."""
    keys = sub.add_parser("keys", help="configure, list, disable, remove keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)

    def scoped(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = ksub.add_parser(name, help=help_text)
        parser.add_argument("--scope", required=True, help="type:id, e.g. workspace:acme")
        parser.add_argument("--actor", default=getpass.getuser())
        parser.add_argument("--account", help=_ACCOUNT_HELP)
        return parser

    configure = scoped("configure", "validate and store a key (read from prompt or stdin)")
    configure.add_argument("key", nargs="?", default=None, help=argparse.SUPPRESS)
    configure.add_argument("--key-from-argv", action="store_true", help="allow KEY in argv")
    configure.add_argument("--provider", choices=["anthropic", "claude", "openai", "gemini"])
    configure.add_argument("--model", help="override from the curated catalog")
    configure.set_defaults(run=_configure)

    remove = scoped("remove", "remove a scope's key for a provider")
    remove.add_argument("--provider", required=True)
    remove.set_defaults(run=_remove)

    listing = ksub.add_parser("list", help="a scope's keys (hints only)")
    listing.add_argument("--scope", required=True)
    listing.add_argument("--account", help=_ACCOUNT_HELP)
    listing.set_defaults(run=_list)

    for name, enabled in (("enable", True), ("disable", False)):
        toggle = scoped(name, f"{name} a key without deleting it")
        toggle.add_argument("--provider", required=True)
        toggle.set_defaults(run=_enable, enabled=enabled)

    report = ksub.add_parser("report", help="report a provider error for a key")
    report.add_argument("key_id")
    report.add_argument("status_code", type=int)
    report.add_argument("--reason", default="")
    report.set_defaults(run=_report, role="runtime")

    rotate = ksub.add_parser(
        "rotate", help="rotate the cipher key and rewrap every stored key, while serving"
    )
    rotate.add_argument("--sealing", action="store_true", help="also rotate the sealing keypair")
    rotate.add_argument("--sealing-only", action="store_true", help="rotate only the sealing key")
    rotate.set_defaults(run=_rotate, role="operator")

    scopes = sub.add_parser("scopes", help="scope settings")
    ssub = scopes.add_subparsers(dest="scopes_command", required=True)
    scope = ssub.add_parser("configure", help="change a scope's settings")
    scope.add_argument("--scope", required=True)
    scope.add_argument("--byok-enabled", type=_bool)
    scope.add_argument("--active-provider")
    scope.add_argument("--read-only", type=_bool)
    scope.add_argument("--route", help="auto, metered or byok:<provider>")
    scope.add_argument("--account", help=_ACCOUNT_HELP)
    scope.add_argument("--actor", default=getpass.getuser())
    scope.set_defaults(run=_scope)

    accounts = sub.add_parser("accounts", help="account policy")
    asub = accounts.add_subparsers(dest="accounts_command", required=True)
    account = asub.add_parser("configure", help="change an account's plan rules")
    account.add_argument("--account", required=True)
    account.add_argument("--plan")
    account.add_argument("--byok-allowed", type=_bool)
    account.add_argument("--mode", choices=["byok_first", "credits_first"])
    account.add_argument("--platform-fallback", type=_bool)
    account.add_argument("--allow-custom-models", type=_bool)
    account.add_argument("--actor", default=getpass.getuser())
    account.set_defaults(run=_account)
